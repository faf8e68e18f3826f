/**
 * Informer resilience against private etcd servers (never the shared
 * one, which other suites use): a partition during which etcd compacts
 * past the informer's revision, etcd stopped for 10 s, etcd hung, a
 * connection that silently stops carrying data.
 *
 * The partition is a TCP relay between the informer's client and etcd
 * that the test cuts and restores; the writer talks to etcd directly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Service } from '../../src/api/service.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { EtcdServer } from '../../src/store/etcd-server.js';
import { KvStore, type TxnOp } from '../../src/store/kv-store.js';
import { decodeStored, ObjectStore } from '../../src/store/object-store.js';
import type { ClusterSnapshot } from '../../src/api/cluster-state.js';
import { ClusterWatch, type ChangedKeys } from '../../src/watch/cluster-watch.js';
import { Informer } from '../../src/watch/informer.js';
import { watchMetrics } from '../../src/watch/watch-metrics.js';
import { StreamCutter } from '../support/stream-cutter.js';
import { serviceJson, waitFor, writeBatched } from './watch-support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function etcd(): Promise<EtcdServer> {
  const server = new EtcdServer();
  cleanups.push(() => server.stop());
  await server.start();
  return server;
}

/** A TCP relay to the server that a test cuts, freezes and restores: the partition between an informer and etcd. */
async function relay(server: EtcdServer): Promise<StreamCutter> {
  const cutter = new StreamCutter(server.clientPort);
  await cutter.open();
  cleanups.push(() => cutter.cut());
  return cutter;
}

function kvStore(endpoint: string): KvStore {
  const store = new KvStore(createEtcdClient({ endpoints: [endpoint], callTimeoutMs: 2_000 }), [endpoint]);
  cleanups.push(() => store.close());
  return store;
}

function informer(store: KvStore, prefix: string, resource: string, probeIntervalMs?: number): Informer<Service> {
  const inf = new Informer<Service>({
    store,
    prefix,
    resource,
    decode: (key, value, modRevision) => decodeStored('Service', { key, value, modRevision }),
    backoff: { initialMs: 50, maxMs: 1_000 },
    ...(probeIntervalMs === undefined ? {} : { probeIntervalMs }),
  });
  const ac = new AbortController();
  cleanups.push(() => ac.abort());
  void inf.start(ac.signal);
  return inf;
}

async function expectEqualToEtcd(inf: Informer<Service>, store: KvStore, prefix: string): Promise<void> {
  const { entries } = await store.list(prefix);
  expect(inf.items().size).toBe(entries.length);
  for (const e of entries) expect(inf.items().get(e.key), e.key).toEqual(decodeStored('Service', e));
}

const prefix = '/registry/services/specs/';
const key = (i: number): string => `${prefix}default/svc-${i}`;
const put = (i: number, port = 80): TxnOp => ({ put: key(i), value: serviceJson('default', `svc-${i}`, port) });
/** Writes svc-0 … svc-(count-1); returns the revision of the last write. */
const putServices = (store: KvStore, count: number): Promise<number> =>
  writeBatched(
    store,
    Array.from({ length: count }, (_, i) => put(i)),
  );

describe('ClusterWatch after a relist', () => {
  it('marks the next delivery full and converges', async () => {
    const server = await etcd();
    const writer = kvStore(server.endpoint);
    const cutter = await relay(server);
    const objects = new ObjectStore(writer, '/registry');
    await putServices(writer, 20);

    const watch = new ClusterWatch({ store: kvStore(cutter.endpoint), prefix: '/registry', backoff: { initialMs: 50, maxMs: 1_000 } });
    const calls: { snap: ClusterSnapshot; changed: ChangedKeys }[] = [];
    watch.subscribe((snap, changed) => {
      calls.push({ snap, changed });
    });
    const ac = new AbortController();
    cleanups.push(() => ac.abort());
    await watch.start(ac.signal);
    await waitFor('the first delivery and watches', () => calls.length === 1 && watch.isConnected());

    await cutter.cut();
    await waitFor('the partition to be noticed', () => !watch.isConnected());
    const ops: TxnOp[] = [...Array.from({ length: 10 }, (_, i): TxnOp => ({ delete: key(i) })), put(50)];
    let last = 0;
    for (const op of ops) last = (await writer.txn([], [op])).revision;
    await writer.compact(last);
    await cutter.open();

    // Each informer relists on its own; wait for the services one to have been delivered.
    await waitFor('a delivery after the relist', () => watch.services.revision() >= last && calls.at(-1)?.snap.services.size === 11);
    expect(watch.services.stats().relists).toBe(1);
    expect(calls.slice(1).some((c) => c.changed.full)).toBe(true);
    const final = (calls.at(-1) as (typeof calls)[number]).snap;
    expect(new Map(final.services)).toEqual((await objects.readSnapshot()).services);
    expect(final.services.size).toBe(11);
  });
});

describe('Informer resilience', () => {
  it('relists after a partition during which etcd compacted past its revision, converging deletes included', async () => {
    const server = await etcd();
    const writer = kvStore(server.endpoint);
    const cutter = await relay(server);
    await putServices(writer, 200);

    const inf = informer(kvStore(cutter.endpoint), prefix, 'test-compaction');
    await waitFor('first sync and watch', () => inf.hasSynced() && inf.isConnected());
    const before = inf.revision();

    await cutter.cut();
    await waitFor('the informer to notice the partition', () => !inf.isConnected());

    // 100 changes, each its own revision: 40 updates, 30 deletes, 30 creates.
    let last = 0;
    for (let i = 0; i < 100; i++) {
      const op: TxnOp = i < 40 ? put(i, 9000 + i) : i < 70 ? { delete: key(i) } : put(200 + i);
      last = (await writer.txn([], [op])).revision;
    }
    await writer.compact(last);
    // The cache keeps serving the pre-partition content meanwhile.
    expect(inf.items().size).toBe(200);
    expect(inf.revision()).toBe(before);

    await cutter.open();
    await waitFor('the informer to relist and catch up', () => inf.revision() >= last && inf.isConnected());
    expect(inf.stats().relists).toBe(1);
    expect(inf.stats().reconnects).toBeGreaterThanOrEqual(1);
    const relists = (await watchMetrics.relists.get()).values.find((v) => v.labels.resource === 'test-compaction');
    expect(relists?.value).toBe(1);
    for (let i = 40; i < 70; i++) expect(inf.items().has(key(i))).toBe(false);
    expect(inf.items().get(key(0))?.spec.ports[0]?.port).toBe(9000);
    await expectEqualToEtcd(inf, writer, prefix);
  });

  it('keeps serving while etcd is stopped for 10 s, then reconnects by itself and catches up', async () => {
    const server = await etcd();
    const store = kvStore(server.endpoint);
    await putServices(store, 100);
    const inf = informer(store, prefix, 'test-restart');
    await waitFor('first sync and watch', () => inf.hasSynced() && inf.isConnected());

    await server.stop(true);
    await waitFor('the informer to notice', () => !inf.isConnected());
    await new Promise((r) => setTimeout(r, 10_000));
    expect(inf.items().size).toBe(100);
    expect(inf.hasSynced()).toBe(true);

    await server.start();
    const ops: TxnOp[] = [
      ...Array.from({ length: 20 }, (_, i) => put(i, 7000 + i)),
      ...Array.from({ length: 20 }, (_, i): TxnOp => ({ delete: key(50 + i) })),
      ...Array.from({ length: 10 }, (_, i) => put(100 + i)),
    ];
    const last = await writeBatched(store, ops, 10, 1);
    await waitFor('the informer to reconnect and catch up', () => inf.isConnected() && inf.revision() >= last);
    expect(inf.stats().reconnects).toBeGreaterThanOrEqual(1);
    expect(inf.stats().relists).toBe(0);
    await expectEqualToEtcd(inf, store, prefix);
  });

  it('relists from scratch when a new, empty etcd appears at the same address', async () => {
    const server = await etcd();
    const writer = kvStore(server.endpoint);
    const cutter = await relay(server);
    for (let i = 0; i < 30; i++) await writer.txn([], [put(i)]);
    const inf = informer(kvStore(cutter.endpoint), prefix, 'test-replaced');
    await waitFor('first sync and watch', () => inf.hasSynced() && inf.isConnected());
    expect(inf.revision()).toBe(31);

    // Replaced while the informer is away. (A new etcd whose revisions have
    // already passed the cache's, with the same cluster id, cannot be told apart.)
    await cutter.cut();
    await server.stop();
    await server.start();
    let last = 0;
    for (let i = 0; i < 10; i++) last = (await writer.txn([], [put(100 + i, 2000 + i)])).revision;
    expect(last).toBeLessThan(31);
    await cutter.open();

    await waitFor('the informer to notice and relist', () => inf.isConnected() && inf.stats().relists === 1 && inf.revision() === last);
    expect(inf.items().has(key(0))).toBe(false);
    expect(inf.items().size).toBe(10);
    await expectEqualToEtcd(inf, writer, prefix);
  });

  it('declares a hung etcd (SIGSTOP) disconnected by probing, and resumes when it continues', async () => {
    const server = await etcd();
    const store = kvStore(server.endpoint);
    await putServices(store, 10);
    const inf = informer(store, prefix, 'test-hung', 200);
    await waitFor('first sync and watch', () => inf.hasSynced() && inf.isConnected());
    const pid = server.pid as number;
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor('the probe to give up on the silent stream', () => !inf.isConnected());
      expect(inf.items().size).toBe(10);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const { revision } = await store.txn([], [put(3, 3333)]);
    await waitFor('the informer to resume', () => inf.isConnected() && inf.revision() >= revision);
    expect(inf.items().get(key(3))?.spec.ports[0]?.port).toBe(3333);
    expect(inf.stats().relists).toBe(0);
  });

  it('abandons a connection that silently stops carrying data and resumes over a new one', async () => {
    const server = await etcd();
    const writer = kvStore(server.endpoint);
    const cutter = await relay(server);
    await putServices(writer, 10);
    const inf = informer(kvStore(cutter.endpoint), prefix, 'test-frozen', 200);
    await waitFor('first sync and watch', () => inf.hasSynced() && inf.isConnected());

    cutter.freeze();
    await waitFor('the probe to give up on the silent connection', () => !inf.isConnected());
    const { revision } = await writer.txn([], [{ delete: key(5) }]);
    await waitFor('the informer to resume over a new connection', () => inf.isConnected() && inf.revision() >= revision);
    expect(inf.items().size).toBe(9);
    expect(inf.stats().reconnects).toBe(1);
  });

  it('lists and watches through any live endpoint when another is down', async () => {
    const server = await etcd();
    const writer = kvStore(server.endpoint);
    const dead = new EtcdServer();
    await dead.start();
    const deadEndpoint = dead.endpoint;
    await dead.stop();
    const both = new KvStore(createEtcdClient({ endpoints: [deadEndpoint, server.endpoint], callTimeoutMs: 2_000 }), [
      deadEndpoint,
      server.endpoint,
    ]);
    cleanups.push(() => both.close());
    await putServices(writer, 10);

    const inf = informer(both, prefix, 'test-endpoints');
    await waitFor('first sync and watch', () => inf.hasSynced() && inf.isConnected());
    const { revision } = await writer.txn([], [put(99)]);
    await waitFor('a change to arrive', () => inf.revision() >= revision);
    await expectEqualToEtcd(inf, writer, prefix);
  });
});
