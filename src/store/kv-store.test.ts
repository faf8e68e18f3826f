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
});
