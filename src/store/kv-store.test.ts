import { afterAll, describe, expect, it } from 'vitest';
import { connectStore, uniquePrefix } from '../../test/support/etcd.js';
import { EtcdRequestError, isKeelError } from '../api/errors.js';
import { createEtcdClient } from './etcd-client.js';
import { EtcdServer } from './etcd-server.js';
import { KvStore } from './kv-store.js';
import type { WatchChange } from './watch-stream.js';

const store = connectStore();
const prefix = uniquePrefix('kv');
afterAll(() => store.close());

describe('KvStore against a real etcd', () => {
  it('creates only when absent and updates only at the revision read', async () => {
    const key = `${prefix}/a`;
    expect(await store.createIfAbsent(key, 'one')).toBe('created');
    expect(await store.createIfAbsent(key, 'two')).toBe('exists');
    const entry = await store.get(key);
    expect(entry?.value.toString()).toBe('one');
    expect(await store.updateAt(key, 'three', entry!.modRevision)).toBe('updated');
    expect(await store.updateAt(key, 'stale', entry!.modRevision)).toBe('conflict');
    expect((await store.get(key))?.value.toString()).toBe('three');
  });

  it('lists a prefix in pages at one revision', async () => {
    const p = `${prefix}/list/`;
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.createIfAbsent(`${p}${String(i).padStart(3, '0')}`, String(i))));
    const { entries, revision } = await store.list(p, 7);
    expect(entries.map((e) => e.value.toString())).toEqual(Array.from({ length: 25 }, (_, i) => String(i)));
    expect(revision).toBeGreaterThan(0);
  });

  it("reads every page of a listing at the first page's revision while another client writes", async () => {
    const p = `${prefix}/paged/`;
    const key = (i: number): string => `${p}${String(i).padStart(4, '0')}`;
    await store.txn(
      [],
      Array.from({ length: 40 }, (_, i) => ({ put: key(i), value: 'v0' })),
    );
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

  it('deletes only at the revision read, and says conflict otherwise', async () => {
    const key = `${prefix}/d`;
    await store.put(key, 'one');
    const entry = await store.get(key);
    await store.put(key, 'two');
    expect(await store.deleteAt(key, entry!.modRevision)).toBe('conflict');
    expect(await store.deleteAt(key, (await store.get(key))!.modRevision)).toBe('deleted');
    expect(await store.get(key)).toBeUndefined();
  });

  it('grants leases whose keys die on revoke; a second revoke says expired', async () => {
    const key = `${prefix}/leased`;
    const lease = await store.grantLease(60);
    expect(await store.createIfAbsent(key, 'held', lease)).toBe('created');
    expect((await store.get(key))?.lease).toBe(lease);
    expect(await store.revokeLease(lease)).toBe('revoked');
    expect(await store.get(key)).toBeUndefined();
    expect(await store.revokeLease(lease)).toBe('expired');
  });

  it("turns a request etcd refuses into keel's error, naming the request", async () => {
    const err = await store.createIfAbsent(`${prefix}/orphan`, 'x', '123456789').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdRequestError);
    expect(isKeelError(err, 'KEEL_ETCD_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/lease not found/);
  });

  it('says whether etcd still holds a revision: kept, compacted away, or not reached yet', async () => {
    // A private etcd: compacting the shared one would break other suites' watches.
    const server = new EtcdServer();
    await server.start();
    const own = new KvStore(createEtcdClient({ endpoints: [server.endpoint] }), [server.endpoint]);
    try {
      const first = await own.put('/h/a', '1');
      const second = await own.put('/h/a', '2');
      await own.compact(second);
      expect(await own.historyAt('/h/', first)).toBe('compacted');
      expect(await own.historyAt('/h/', second)).toBe('kept');
      expect(await own.historyAt('/h/', second + 1)).toBe('ahead');
    } finally {
      own.close();
      await server.stop();
    }
  });

  it('watches from a revision, the first change included', async () => {
    const p = `${prefix}/watch/`;
    const first = await store.put(`${p}a`, '1');
    await store.put(`${p}b`, '2');
    const seen: WatchChange[] = [];
    const ac = new AbortController();
    const end = await store.watch(
      p,
      first,
      {
        onCreated: () => undefined,
        onChanges: (changes) => {
          seen.push(...changes);
          if (seen.length >= 2) ac.abort();
        },
        onProgress: () => undefined,
      },
      ac.signal,
    );
    expect(end).toEqual({ reason: 'aborted' });
    expect(seen.map((c) => `${c.key.slice(p.length)}=${c.value?.toString()}@${c.modRevision === first ? 'first' : 'later'}`)).toEqual([
      'a=1@first',
      'b=2@later',
    ]);
    // Compaction (relist) is exercised against an etcd of its own in test/e2e/watch-resilience.test.ts: compacting the shared one would disturb other files.
  });
});
