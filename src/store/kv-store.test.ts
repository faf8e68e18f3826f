import { afterAll, describe, expect, it } from 'vitest';
import { connectStore, uniquePrefix } from '../../test/support/etcd.js';
import { EtcdRequestError, isKeelError } from '../api/errors.js';
import { createEtcdClient } from './etcd-client.js';
import { EtcdServer } from './etcd-server.js';
import { KvStore } from './kv-store.js';
import type { WatchChange, WatchOptions } from './watch-stream.js';
import { StreamCutter } from '../../test/support/stream-cutter.js';
import { sleep } from '../runtime/backoff.js';

const store = connectStore();
const prefix = uniquePrefix('kv');
afterAll(() => store.close());

/** A watch of the relayed store: when etcd accepted it, and how it ended. */
interface OpenedWatch {
  created: Promise<void>;
  end: Promise<unknown>;
}

/**
 * A store reaching a private etcd through a relay the test can silence, a
 * writer connected to that etcd directly, and `open` for watches of the
 * relayed store that record every key they see in `seen` (by default with a
 * 200-ms create deadline and no liveness probe). Everything ends with `body`.
 */
async function withRelayedStore(
  callTimeoutMs: number | undefined,
  body: (t: {
    own: KvStore;
    writer: KvStore;
    relay: StreamCutter;
    seen: string[];
    open: (prefix: string, options?: WatchOptions) => OpenedWatch;
  }) => Promise<void>,
): Promise<void> {
  const server = new EtcdServer();
  await server.start();
  const relay = new StreamCutter(Number(new URL(server.endpoint).port));
  await relay.open();
  const own = new KvStore(createEtcdClient({ endpoints: [relay.endpoint], ...(callTimeoutMs ? { callTimeoutMs } : {}) }), [relay.endpoint]);
  const writer = new KvStore(createEtcdClient({ endpoints: [server.endpoint] }), [server.endpoint]);
  const ac = new AbortController();
  const seen: string[] = [];
  const open = (prefix: string, options: WatchOptions = { createTimeoutMs: 200, probeIntervalMs: 600_000 }): OpenedWatch => {
    let created!: () => void;
    const ready = new Promise<void>((resolve) => (created = resolve));
    const end = own.watch(
      prefix,
      1,
      { onCreated: () => created(), onChanges: (changes) => seen.push(...changes.map((c) => c.key)), onProgress: () => undefined },
      ac.signal,
      options,
    );
    return { created: ready, end };
  };
  try {
    await body({ own, writer, relay, seen, open });
  } finally {
    ac.abort();
    own.close();
    writer.close();
    await relay.cut();
    await server.stop();
  }
}

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

  it('pins a listing to the newest multiple of `every`, and lists at the current revision once that one is compacted', async () => {
    const server = new EtcdServer();
    await server.start();
    const own = new KvStore(createEtcdClient({ endpoints: [server.endpoint] }), [server.endpoint]);
    try {
      const p = '/pin/';
      let head = 0;
      for (let i = 0; head % 10 !== 5 || head < 10; i++) head = await own.put(`${p}${String(i).padStart(3, '0')}`, `v${i}`);
      const pinned = head - 5;
      const at = await own.list(p, 3, { every: 10 });
      expect(at.revision).toBe(pinned);
      expect(at.entries.every((e) => e.modRevision <= pinned)).toBe(true);
      expect(at.entries.length).toBe((await own.list(p)).entries.length - 5);
      // Below atLeast (a revision known to be compacted): the current one.
      expect((await own.list(p, 3, { every: 10, atLeast: pinned + 1 })).revision).toBe(head);
      await own.compact(pinned + 2);
      const after = await own.list(p, 3, { every: 10 });
      expect(after.revision).toBe(head);
      expect(after.entries).toEqual((await own.list(p)).entries);
    } finally {
      own.close();
      await server.stop();
    }
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

  it("carries a store's watches on one gRPC stream, each ended on its own: aborted, compacted", async () => {
    // A private etcd: its stream and watcher counts are this test's alone, and it compacts.
    const server = new EtcdServer();
    await server.start();
    const own = new KvStore(createEtcdClient({ endpoints: [server.endpoint] }), [server.endpoint]);
    const etcdCount = async (name: string): Promise<number> =>
      Number(
        /^(\S+) (\d+)$/m.exec(
          (await (await fetch(`${server.endpoint}/metrics`)).text()).split('\n').find((l) => l.startsWith(`${name} `)) ?? '',
        )?.[2],
      );
    const seen: string[] = [];
    const watches = ['/w/a/', '/w/b/', '/w/c/', '/w/d/'].map((p) => {
      const ac = new AbortController();
      let created!: () => void;
      const ready = new Promise<void>((resolve) => (created = resolve));
      const end = own.watch(
        p,
        1,
        {
          onCreated: () => created(),
          onChanges: (changes) => seen.push(...changes.map((c) => c.key)),
          onProgress: () => undefined,
        },
        ac.signal,
      );
      return { ac, ready, end };
    });
    try {
      await Promise.all(watches.map((w) => w.ready));
      expect(await etcdCount('etcd_debugging_mvcc_watch_stream_total')).toBe(1);
      expect(await etcdCount('etcd_debugging_mvcc_watcher_total')).toBe(4);
      const [a, b, c, d] = watches as [(typeof watches)[0], (typeof watches)[0], (typeof watches)[0], (typeof watches)[0]];
      a.ac.abort();
      expect(await a.end).toEqual({ reason: 'aborted' });
      await own.put('/w/a/1', 'x');
      const rev = await own.put('/w/b/1', 'x');
      await expect.poll(() => seen).toEqual(['/w/b/1']);
      expect(await etcdCount('etcd_debugging_mvcc_watcher_total')).toBe(3);
      // A watch from a compacted revision ends as compacted; the stream goes on for the others.
      await own.compact(rev);
      const late = own.watch(
        '/w/e/',
        1,
        { onCreated: () => undefined, onChanges: () => undefined, onProgress: () => undefined },
        c.ac.signal,
      );
      expect(await late).toEqual({ reason: 'compacted', compactRevision: rev });
      // Cancelled on etcd too: etcd 3.4 would otherwise keep it registered on the stream for the stream's life.
      await expect.poll(() => etcdCount('etcd_debugging_mvcc_watcher_total')).toBe(3);
      await own.put('/w/d/1', 'x');
      await expect.poll(() => seen).toEqual(['/w/b/1', '/w/d/1']);
      expect(await etcdCount('etcd_debugging_mvcc_watch_stream_total')).toBe(1);
      for (const w of [b, c, d]) w.ac.abort();
      expect(await Promise.all([b.end, c.end, d.end])).toEqual([{ reason: 'aborted' }, { reason: 'aborted' }, { reason: 'aborted' }]);
      // The last watch gone, the stream closes.
      await expect.poll(() => etcdCount('etcd_debugging_mvcc_watch_stream_total')).toBe(0);
    } finally {
      own.close();
      await server.stop();
    }
  });

  it('keeps a stream that etcd has answered when a later create is slow: the watches established on it go on', async () => {
    // A create unanswered past its deadline fails the stream only while etcd has said nothing on it
    // (an unlucky member). Once it answered, a slow create is a busy etcd or node: failing the stream
    // would take every established watch down with it — in the 250-node relist storm every node's
    // stream failed that way over and over (#18). Here the path is held silent past the deadline.
    await withRelayedStore(undefined, async ({ writer, relay, seen, open }) => {
      const first = open('/s/a/');
      await first.created;
      let firstEnded = false;
      void first.end.then(
        () => (firstEnded = true),
        () => (firstEnded = true),
      );
      relay.partition();
      const second = open('/s/b/');
      // Well past the 200-ms create deadline (not a timing assertion: what is checked is that nothing failed).
      await sleep(1_500);
      relay.heal();
      await second.created;
      await writer.put('/s/a/1', 'x');
      await writer.put('/s/b/1', 'x');
      await expect.poll(() => [...seen].sort()).toEqual(['/s/a/1', '/s/b/1']);
      expect(firstEnded).toBe(false);
    });
  });

  it('a listing past its deadline fails only itself: the watch established on the store goes on', async () => {
    // The etcd3 library resets the connection a call past its deadline used, failing every call on it. With
    // listings on the watches' connection, a node too busy to read a page in time lost its watch stream and
    // its other listings with each timeout, and a relist storm on a starved machine never finished (#18).
    await withRelayedStore(300, async ({ own, writer, relay, seen, open }) => {
      await writer.put('/l/items/1', 'x');
      const watched = open('/l/watched/', { probeIntervalMs: 600_000 });
      let ended = false;
      void watched.end.finally(() => (ended = true));
      await watched.created;
      relay.partition();
      await expect(own.list('/l/items/')).rejects.toThrow();
      relay.heal();
      await writer.put('/l/watched/1', 'x');
      await expect.poll(() => seen).toEqual(['/l/watched/1']);
      expect(ended).toBe(false);
      // The store's other calls use the watches' connection, untouched by the listing's reset.
      expect((await own.get('/l/items/1'))?.value.toString()).toBe('x');
    });
  });

  it('on a brand-new stream, a first create etcd is slow to accept fails only its own watch: those queued behind it go on', async () => {
    // Before etcd has answered anything on a stream, a create past its deadline may mean a dead member:
    // that watch gives up (and retries on a new stream). Until #18's fix every watch queued on the stream
    // failed with it — on a node or etcd too busy to answer in time, all of a node's watches at once.
    await withRelayedStore(undefined, async ({ own, writer, relay, seen, open }) => {
      // The connection is up (a read went through it); then the path goes silent and two watches open a stream.
      await own.get('/n/none');
      relay.partition();
      const first = open('/n/a/');
      const second = open('/n/b/');
      // Without the fix the second watch ends with the first's error: it must not end at all.
      const secondEnded = second.end.then(
        () => 'ended',
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      );
      await expect(first.end).rejects.toThrow(/did not accept the watch within 200 ms/);
      // Well past the deadline again (not a timing assertion: what is checked is that nothing else failed).
      await sleep(1_000);
      relay.heal();
      expect(await Promise.race([second.created.then(() => 'created'), secondEnded])).toBe('created');
      await writer.put('/n/b/1', 'x');
      await expect.poll(() => seen).toEqual(['/n/b/1']);
      // The first watch's retry, as an informer makes it, works on a stream of its own.
      const retried = open('/n/a/');
      await retried.created;
      await writer.put('/n/a/1', 'x');
      await expect.poll(() => [...seen].sort()).toEqual(['/n/a/1', '/n/b/1']);
    });
  });
});
