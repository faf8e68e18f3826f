/**
 * Informers behind a real `etcd grpc-proxy` (the topology docs/scale.md
 * recommends past a few hundred nodes), partitioned from the proxy while
 * etcd compacts past their revision — the fleet bench's relist storm on a
 * small scale, three times over. Every informer must relist and then keep
 * following etcd.
 *
 * What goes wrong otherwise (etcd 3.4's server/proxy/grpcproxy, unchanged
 * upstream): the proxy serves all watchers of one range from shared
 * upstream watches. One that resumes from a compacted revision gets etcd's
 * compaction answer, whose header carries revision 0, and its upstream watch
 * ends — but the shared watch stays registered, now claiming "next revision
 * 1": every later watcher of the range may be added to it, or moved into it
 * when its own shared watch next hears from etcd, and then hears nothing,
 * not even an error. Resuming informers ask etcd about the revision with a
 * range first (KvStore.historyAt), so no compaction answer ever reaches a
 * shared watch. Without that, 3–7 of these 8 informers stopped in each of
 * three runs.
 *
 * The partition is a TCP relay between the informers and the proxy; the
 * proxy itself stays connected to etcd, and the writer talks to etcd
 * directly.
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

const INFORMERS = 8;
const CYCLES = 3;
const prefix = '/registry/services/specs/';
const key = (i: number): string => `${prefix}default/svc-${i}`;
const put = (i: number, port = 80): TxnOp => ({ put: key(i), value: serviceJson('default', `svc-${i}`, port) });

function kvStore(endpoint: string, connectionKey?: string): KvStore {
  const store = new KvStore(
    createEtcdClient({ endpoints: [endpoint], callTimeoutMs: 2_000, ...(connectionKey === undefined ? {} : { connectionKey }) }),
    [endpoint],
  );
  cleanups.push(() => store.close());
  return store;
}

/** One simulated node: its own connection to the proxy, as each agent has. */
function informer(endpoint: string, n: number, probeIntervalMs?: number): Informer<Service> {
  const inf = new Informer<Service>({
    store: kvStore(endpoint, `kf3-node-${n}`),
    prefix,
    resource: `test-proxy-${n}`,
    decode: (k, value, modRevision) => decodeStored('Service', { key: k, value, modRevision }),
    backoff: { initialMs: 50, maxMs: 1_000 },
    relistJitterMs: 500,
    ...(probeIntervalMs === undefined ? {} : { probeIntervalMs }),
  });
  const ac = new AbortController();
  cleanups.push(() => ac.abort());
  void inf.start(ac.signal);
  return inf;
}

/** A real etcd, a store writing to it directly, and a grpc-proxy in front of it; both stop after the test. */
async function etcdBehindProxy(): Promise<{ writer: KvStore; proxy: GrpcProxy }> {
  const server = new EtcdServer();
  cleanups.push(() => server.stop());
  await server.start();
  const writer = kvStore(server.endpoint);
  const proxy = new GrpcProxy(server.endpoint);
  cleanups.push(() => proxy.stop());
  await proxy.start();
  return { writer, proxy };
}

describe('informers behind etcd grpc-proxy', () => {
  it(`all ${INFORMERS} converge on etcd after a partition during which etcd compacted past them, and keep following it`, async () => {
    const { writer, proxy } = await etcdBehindProxy();
    const cutter = new StreamCutter(proxy.port);
    await cutter.open();
    cleanups.push(() => cutter.cut());
    await writeBatched(
      writer,
      Array.from({ length: 100 }, (_, i) => put(i)),
    );

    const informers = Array.from({ length: INFORMERS }, (_, n) => informer(cutter.endpoint, n));
    /** A watch that silently stops delivering never gets there: the deadline is for that hang, not a timing assertion. */
    const everyInformer = (what: string, done: (inf: Informer<Service>) => boolean): Promise<void> =>
      waitFor(what, () => informers.every(done), 60_000).catch(() => {
        const behind = informers.filter((inf) => !done(inf)).map((inf) => `revision ${inf.revision()}, ${inf.stats().relists} relists`);
        throw new Error(`${behind.length} of ${INFORMERS} informers never ${what}: ${behind.join('; ')}`);
      });
    await waitFor('every informer synced and watching', () => informers.every((inf) => inf.hasSynced() && inf.isConnected()));

    let last = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await cutter.cut();
      await waitFor('every informer to notice the partition', () => informers.every((inf) => !inf.isConnected()));
      for (let i = 0; i < 30; i++)
        last = (await writer.txn([], [i < 20 ? put(i, 9000 + 100 * cycle + i) : { delete: key(20 * cycle + i) }])).revision;
      await writer.compact(last);
      await cutter.open();
      const compacted = last;
      await everyInformer(
        `cycle ${cycle}: relisted past the compaction at ${compacted}`,
        (inf) => inf.stats().relists > cycle && inf.revision() >= compacted,
      );

      // Changes after the heal reach every informer through its resumed watch.
      for (let i = 0; i < 10; i++) last = (await writer.txn([], [put(200 + 10 * cycle + i)])).revision;
      const head = last;
      await everyInformer(`cycle ${cycle}: following etcd to ${head} after the heal`, (inf) => inf.revision() >= head);
    }
    const { entries } = await writer.list(prefix);
    for (const inf of informers) {
      expect(inf.items().size).toBe(entries.length);
      for (const e of entries) expect(inf.items().get(e.key), e.key).toEqual(decodeStored('Service', e));
    }
  }, 300_000);

  it('keeps an idle watch through the proxy: its liveness probe is answered, so the connection stays', async () => {
    const { writer, proxy } = await etcdBehindProxy();
    await writer.put(key(1), serviceJson('default', 'svc-1'));
    const inf = informer(proxy.endpoint, 0, 100);
    await waitFor('synced and watching', () => inf.hasSynced() && inf.isConnected());

    // 30 probe periods with nothing to deliver: grpc-proxy drops progress requests unanswered.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(inf.stats().reconnects).toBe(0);
    const revision = await writer.put(key(2), serviceJson('default', 'svc-2'));
    await waitFor('the change to arrive', () => inf.revision() >= revision);
    expect(inf.stats().reconnects).toBe(0);
  });
});
