/**
 * Listings answered from `etcd grpc-proxy`'s range cache (#18: in a relist
 * storm every node lists every prefix). etcd 3.4's proxy caches serializable
 * ranges only and never invalidates one at a fixed revision; KvStore.list
 * reads the current revision linearizably, then every page serializably at
 * one fixed revision; an informer's relist pins that revision to a multiple
 * of pinEvery, so nodes relisting during writes ask for the same pages. A real etcd, a real proxy in front of it, stores
 * connected to the proxy each on its own connection (as nodes are), a writer
 * connected to etcd directly. What reached etcd is read from etcd's own
 * /metrics (the proxy's 3.4 /metrics shows etcd's, not its own cache counters).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Service } from '../../src/api/service.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { EtcdServer } from '../../src/store/etcd-server.js';
import { KvStore, type TxnOp } from '../../src/store/kv-store.js';
import { decodeStored } from '../../src/store/object-store.js';
import { Informer } from '../../src/watch/informer.js';
import { GrpcProxy } from '../support/grpc-proxy.js';
import { StreamCutter } from '../support/stream-cutter.js';
import { serviceJson, waitFor, writeBatched } from './watch-support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const prefix = '/registry/services/specs/';
const key = (i: number): string => `${prefix}default/svc-${i}`;
const put = (i: number, port = 80): TxnOp => ({ put: key(i), value: serviceJson('default', `svc-${i}`, port) });

function kvStore(endpoint: string, connectionKey: string): KvStore {
  const store = new KvStore(createEtcdClient({ endpoints: [endpoint], connectionKey }), [endpoint]);
  cleanups.push(() => store.close());
  return store;
}

/** A real etcd, a store writing to it directly, a grpc-proxy in front of it, and etcd's count of the ranges it answered. */
async function etcdBehindProxy(): Promise<{ writer: KvStore; proxy: GrpcProxy; ranges: () => Promise<number> }> {
  const server = new EtcdServer();
  cleanups.push(() => server.stop());
  await server.start();
  const writer = kvStore(server.endpoint, 'writer');
  const proxy = new GrpcProxy(server.endpoint);
  cleanups.push(() => proxy.stop());
  await proxy.start();
  const ranges = async (): Promise<number> => {
    const text = await (await fetch(`${server.endpoint}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('grpc_server_handled_total{') && l.includes('grpc_method="Range"') && l.includes('grpc_code="OK"'));
    return Number(line?.split(' ')[1] ?? 0);
  };
  return { writer, proxy, ranges };
}

/** A relay between the informers and the proxy that the test can cut (a partition); closed after the test. */
async function relay(proxy: GrpcProxy): Promise<StreamCutter> {
  const cutter = new StreamCutter(proxy.port);
  await cutter.open();
  cleanups.push(() => cutter.cut());
  return cutter;
}

/**
 * An informer on `store`, started; `synced` resolves once its first listing
 * is in its cache; `relisted` gets each relist's revision and object count.
 */
function informer(
  store: KvStore,
  n: number,
  pinEvery: number,
): { inf: Informer<Service>; synced: Promise<void>; relisted: { revision: number; objects: number }[] } {
  const inf = new Informer<Service>({
    store,
    prefix,
    resource: `test-list-cache-${n}`,
    decode: (k, value, modRevision) => decodeStored('Service', { key: k, value, modRevision }),
    backoff: { initialMs: 50, maxMs: 1_000 },
    relistJitterMs: 0,
    pinEvery,
  });
  const ac = new AbortController();
  cleanups.push(() => ac.abort());
  const relisted: { revision: number; objects: number }[] = [];
  inf.onRelist(() => relisted.push({ revision: inf.revision(), objects: inf.items().size }));
  return { inf, synced: inf.start(ac.signal), relisted };
}

/** The two pin tests' start: `count` services written, a synced informer behind a relay, then the relay cut and noticed. */
async function cutOffInformer(
  count: number,
  pinEvery: number,
): Promise<{ writer: KvStore; proxy: GrpcProxy; cutter: StreamCutter; listed: number } & ReturnType<typeof informer>> {
  const { writer, proxy } = await etcdBehindProxy();
  const cutter = await relay(proxy);
  const listed = await writeBatched(
    writer,
    Array.from({ length: count }, (_, i) => put(i)),
  );
  const started = informer(kvStore(cutter.endpoint, 'node-1'), 1, pinEvery);
  await started.synced;
  const { inf } = started;
  expect(inf.revision()).toBe(listed);
  await cutter.cut();
  await waitFor('the informer to notice the partition', () => !inf.isConnected());
  return { writer, proxy, cutter, listed, ...started };
}

/** The informer holds exactly what etcd holds now. */
async function equalToEtcd(inf: Informer<Service>, writer: KvStore): Promise<void> {
  const { entries } = await writer.list(prefix);
  expect(inf.items().size).toBe(entries.length);
  for (const e of entries) expect(inf.items().get(e.key), e.key).toEqual(decodeStored('Service', e));
}

describe('listings through grpc-proxy', () => {
  it("a second node listing the same prefix at the same revision is answered from the proxy's cache: etcd serves only its revision read", async () => {
    const { writer, proxy, ranges } = await etcdBehindProxy();
    await writeBatched(
      writer,
      Array.from({ length: 250 }, (_, i) => put(i)),
    );
    const first = kvStore(proxy.endpoint, 'node-1');
    const second = kvStore(proxy.endpoint, 'node-2');

    const r0 = await ranges();
    const a = await first.list(prefix, 50);
    const r1 = await ranges();
    const b = await second.list(prefix, 50);
    const r2 = await ranges();
    expect(a.entries.length).toBe(250);
    expect(b).toEqual(a);
    // The first: its revision read and five pages; the second: its revision read alone.
    expect(r1 - r0).toBe(6);
    expect(r2 - r1).toBe(1);

    // A write (directly to etcd, past the proxy): the next listing is at the new revision, with the write.
    const revision = await writer.put(key(7), serviceJson('default', 'svc-7', 8080));
    const c = await second.list(prefix, 50);
    expect(c.revision).toBe(revision);
    expect(c.entries.find((e) => e.key === key(7))?.modRevision).toBe(revision);
  });

  it('an informer relisting at a pinned revision misses nothing written between that revision and its watch', async () => {
    const { writer, cutter, listed, inf, relisted } = await cutOffInformer(100, 50);
    let pinned = listed;
    do pinned = await writer.put(key(0), serviceJson('default', 'svc-0', 1_000 + pinned));
    while (pinned % 50 !== 0);
    // Five services after the revision the relist pins to (the newest multiple of 50).
    for (let i = 200; i < 205; i++) await writer.put(key(i), serviceJson('default', `svc-${i}`));
    await writer.compact(listed + 1);
    await cutter.open();
    await waitFor('the relist', () => relisted.length > 0, 60_000);
    // Relisted at the pinned revision: the last five services were not in the listing.
    expect(relisted[0]).toEqual({ revision: pinned, objects: 100 });
    // Written while the informer starts its watch from the pinned revision + 1.
    const more = await writer.put(key(1), serviceJson('default', 'svc-1', 9000));
    await waitFor('every write', () => inf.revision() >= more);
    await equalToEtcd(inf, writer);
  }, 120_000);

  it("relists at the current revision when the pinned one was compacted behind the proxy's back, its cached pages notwithstanding", async () => {
    const { writer, proxy, cutter, listed, inf, relisted } = await cutOffInformer(20, 100);
    let head = listed;
    while (head % 100 !== 10 || head < 100)
      head = await writer.put(key(head % 20), serviceJson('default', `svc-${head % 20}`, 1_000 + head));
    const pinned = head - 10;
    // Another node lists at the pinned revision: the proxy caches those pages.
    expect((await kvStore(proxy.endpoint, 'node-0').list(prefix, 1_000, { every: 100 })).revision).toBe(pinned);
    // etcd compacts past it directly: the proxy does not know, and still holds the pages.
    await writer.compact(head);
    await cutter.open();
    await waitFor('the relist', () => relisted.length > 0, 60_000);
    expect(relisted[0]?.revision).toBe(head);
    const after = await writer.put(key(3), serviceJson('default', 'svc-3', 9_001));
    await waitFor('the write after the compaction', () => inf.revision() >= after, 60_000);
    await equalToEtcd(inf, writer);
  }, 120_000);
});
