/**
 * Informer resilience against private etcd servers (never the shared
 * one, which other suites use): a partition during which etcd compacts
 * past the informer's revision, and etcd stopped for 10 s.
 *
 * The partition is a TCP relay between the informer's client and etcd
 * that the test cuts and restores; the writer talks to etcd directly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Service } from '../../src/api/service.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { EtcdServer } from '../../src/store/etcd-server.js';
import { KvStore, type TxnOp } from '../../src/store/kv-store.js';
import { decodeStored } from '../../src/store/object-store.js';
import { Informer } from '../../src/watch/informer.js';
import { watchMetrics } from '../../src/watch/watch-metrics.js';
import { serviceJson, TcpCutter, waitFor, writeBatched } from './watch-support.js';

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

function kvStore(endpoint: string): KvStore {
  const store = new KvStore(createEtcdClient({ endpoints: [endpoint], callTimeoutMs: 2_000 }), [endpoint]);
  cleanups.push(() => store.client.close());
  return store;
}

function informer(store: KvStore, prefix: string, resource: string): Informer<Service> {
  const inf = new Informer<Service>({
    store,
    prefix,
    resource,
    decode: (key, value, modRevision) => decodeStored('Service', { key, value, modRevision }),
    backoff: { initialMs: 50, maxMs: 1_000 },
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

describe('Informer resilience', () => {
  it('relists after a partition during which etcd compacted past its revision, converging deletes included', async () => {
    const server = await etcd();
    const writer = kvStore(server.endpoint);
    const cutter = new TcpCutter(server.clientPort);
    await cutter.open();
    cleanups.push(() => cutter.cut());
    await writeBatched(writer, Array.from({ length: 200 }, (_, i) => put(i)));

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
    await writer.client.kv.compact({ revision: last, physical: true });
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
    await writeBatched(store, Array.from({ length: 100 }, (_, i) => put(i)));
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

  it('lists and watches through any live endpoint when another is down', async () => {
    const server = await etcd();
    const writer = kvStore(server.endpoint);
    const dead = new EtcdServer();
    await dead.start();
    const deadEndpoint = dead.endpoint;
    await dead.stop();
    const both = new KvStore(createEtcdClient({ endpoints: [deadEndpoint, server.endpoint], callTimeoutMs: 2_000 }), [deadEndpoint, server.endpoint]);
    cleanups.push(() => both.client.close());
    await writeBatched(writer, Array.from({ length: 10 }, (_, i) => put(i)));

    const inf = informer(both, prefix, 'test-endpoints');
    await waitFor('first sync and watch', () => inf.hasSynced() && inf.isConnected());
    const { revision } = await writer.txn([], [put(99)]);
    await waitFor('a change to arrive', () => inf.revision() >= revision);
    await expectEqualToEtcd(inf, writer, prefix);
  });
});
