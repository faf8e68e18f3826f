/**
 * Watch layer figures against a private real etcd, with the etcd3
 * client's own watcher as the peer in the same run:
 *  - initial paged list + decode of 10,000 Services;
 *  - put → informer event latency (sequential puts), vs. put → etcd3 watcher event;
 *  - put → ClusterWatch consumer call latency;
 *  - 10,000 changes (txns of 100, 8 in flight) until the cache has them all.
 * Writes bench/results/watch-latency.json. Run: npm run build && node dist/bench/watch-latency.js
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createEtcdClient } from '../src/store/etcd-client.js';
import { EtcdServer } from '../src/store/etcd-server.js';
import { KvStore, type TxnOp } from '../src/store/kv-store.js';
import { decodeStored } from '../src/store/object-store.js';
import { setLogLevel } from '../src/observe/log.js';
import type { Service } from '../src/api/service.js';
import { ClusterWatch } from '../src/watch/cluster-watch.js';
import { Informer } from '../src/watch/informer.js';

const N = 10_000;
const SAMPLES = 500;
const prefix = '/registry/services/specs/';
const svc = (i: number, port = 80): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: `svc-${i}` }, spec: { ports: [{ port, targetPort: 8080 }] } });
const key = (i: number): string => `${prefix}default/svc-${i}`;

async function batched(store: KvStore, ops: TxnOp[]): Promise<number> {
  let next = 0;
  let rev = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < ops.length) {
      const chunk = ops.slice(next, next + 100);
      next += 100;
      rev = Math.max(rev, (await store.txn([], chunk)).revision);
    }
  }));
  return rev;
}

function quantiles(ms: number[]): { p50: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number): number => Number((s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0).toFixed(3));
  return { p50: q(0.5), p99: q(0.99), max: q(1) };
}

async function latency(store: KvStore, waitEvent: (k: string) => Promise<void>, base: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const k = key(i);
    const seen = waitEvent(k);
    const t0 = performance.now();
    await store.txn([], [{ put: k, value: svc(i, base + i) }]);
    await seen;
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(): Promise<void> {
  setLogLevel('error');
  const server = new EtcdServer();
  await server.start();
  const store = new KvStore(createEtcdClient({ endpoints: [server.endpoint] }), [server.endpoint]);
  const ac = new AbortController();
  try {
    await batched(store, Array.from({ length: N }, (_, i) => ({ put: key(i), value: svc(i) })));

    const inf = new Informer<Service>({ store, prefix, resource: 'bench', decode: (k, v, r) => decodeStored('Service', { key: k, value: v, modRevision: r }) });
    let t = performance.now();
    await inf.start(ac.signal);
    const initialListMs = performance.now() - t;

    const waiters = new Map<string, () => void>();
    inf.subscribe((ev) => waiters.get(ev.key)?.());
    const informerLatency = await latency(store, (k) => new Promise((r) => waiters.set(k, r)), 1_000);

    const peerWaiters = new Map<string, () => void>();
    const peer = await store.client.watch().prefix(prefix).create();
    peer.on('put', (kv) => peerWaiters.get(kv.key.toString())?.());
    const peerLatency = await latency(store, (k) => new Promise((r) => peerWaiters.set(k, r)), 2_000);
    await peer.cancel();

    const watch = new ClusterWatch({ store, prefix: '/registry' });
    await watch.start(ac.signal);
    let wake: (() => void) | undefined;
    watch.subscribe(() => wake?.());
    const consumerLatency = await latency(store, () => new Promise((r) => { wake = r; }), 3_000);

    const ops: TxnOp[] = Array.from({ length: N }, (_, i) => (i % 3 === 0 ? { delete: key(i) } : { put: key(i), value: svc(i, 5_000 + (i % 50_000)) }));
    t = performance.now();
    const last = await batched(store, ops);
    const writtenMs = performance.now() - t;
    while (inf.revision() < last) await new Promise((r) => setTimeout(r, 1));
    const changesMs = performance.now() - t;

    const result = {
      when: new Date().toISOString(),
      etcd: server.endpoint,
      initialList10kMs: Number(initialListMs.toFixed(1)),
      putToInformerEventMs: quantiles(informerLatency),
      putToEtcd3WatcherEventMs: quantiles(peerLatency),
      putToClusterWatchConsumerMs: quantiles(consumerLatency),
      changes10k: { writtenMs: Number(writtenMs.toFixed(1)), cachedMs: Number(changesMs.toFixed(1)) },
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/watch-latency.json', `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    ac.abort();
    store.client.close();
    await server.stop();
  }
}

await main();
