import { afterAll, describe, expect, it } from 'vitest';
import { connectStore, uniquePrefix } from '../../test/support/etcd.js';

const store = connectStore();
const prefix = uniquePrefix('kv');
afterAll(() => store.client.close());

describe('KvStore against a real etcd', () => {
  it('creates only when absent and updates only at the revision read', async () => {
    const key = `${prefix}/a`;
    expect((await store.createIfAbsent(key, 'one')).succeeded).toBe(true);
    expect((await store.createIfAbsent(key, 'two')).succeeded).toBe(false);
    const entry = await store.get(key);
    expect(entry?.value.toString()).toBe('one');
    expect((await store.updateAt(key, 'three', entry!.modRevision)).succeeded).toBe(true);
    expect((await store.updateAt(key, 'stale', entry!.modRevision)).succeeded).toBe(false);
    expect((await store.get(key))?.value.toString()).toBe('three');
  });

  it('lists a prefix in pages at one revision', async () => {
    const p = `${prefix}/list/`;
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.createIfAbsent(`${p}${String(i).padStart(3, '0')}`, String(i))));
    const { entries, revision } = await store.list(p, 7);
    expect(entries.map((e) => e.value.toString())).toEqual(Array.from({ length: 25 }, (_, i) => String(i)));
    expect(revision).toBeGreaterThan(0);
  });

  it('reads every page of a listing at the first page\'s revision while another client writes', async () => {
    const p = `${prefix}/paged/`;
    const key = (i: number): string => `${p}${String(i).padStart(4, '0')}`;
    await store.txn([], Array.from({ length: 40 }, (_, i) => ({ put: key(i), value: 'v0' })));
    // The writer rewrites the last ten keys and appends new ones: everything it touches sorts after the first pages.
    const writes: { key: string; value: string; revision: number }[] = [];
    let listing = true;
    const writer = (async () => {
      for (let n = 1; listing && n < 5_000; n++) {
        const k = n % 2 ? key(30 + (n % 10)) : key(1_000 + n);
        const { revision } = await store.txn([], [{ put: k, value: `v${n}` }]);
        writes.push({ key: k, value: `v${n}`, revision });
      }
    })();
    while (writes.length < 3) await new Promise((r) => setImmediate(r));
    const listed = await store.list(p, 4);
    listing = false;
    await writer;
    // At most one write was in flight when the listing returned: two or more after its revision
    // means the pages were read while the writer wrote.
    expect(writes.filter((w) => w.revision > listed.revision).length).toBeGreaterThanOrEqual(2);
    const state = new Map(Array.from({ length: 40 }, (_, i) => [key(i), 'v0']));
    for (const w of writes) if (w.revision <= listed.revision) state.set(w.key, w.value);
    expect(listed.entries.map((e) => `${e.key}=${e.value.toString()}`)).toEqual([...state].map(([k, v]) => `${k}=${v}`).sort());
  });
});
