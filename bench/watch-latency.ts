/**
 * Watch layer figures against a private real etcd, with the etcd3 client as
 * the peer in the same run (issue 9 sets no target here; these bound what
 * figures 3, 5 and 8 can reach):
 *  - initial paged list + decode of 10,000 Services by an informer, beside
 *    one etcd3 range of the same prefix (raw strings);
 *  - put → informer event and put → ClusterWatch consumer call, beside put →
 *    event of a plain etcd3 watcher on the same keys: all three watch at
 *    once and every put is timed by each, so the samples pair up;
 *  - 10,000 changes (txns of 100, 8 in flight) until the informer's cache
 *    holds them all, beside the time etcd took to accept them.
 * Every measurement runs 5 times. Writes bench/results/watch-latency.json
 * (figures.ts). Run: npm run build && npm run build:dev && node dist-dev/bench/watch-latency.js
 */
import type { Service } from '../src/api/service.js';
import { setLogLevel } from '../src/observe/log.js';
import { createEtcdClient } from '../src/store/etcd-client.js';
import { EtcdServer } from '../src/store/etcd-server.js';
import { KvStore, type TxnOp } from '../src/store/kv-store.js';
import { decodeStored } from '../src/store/object-store.js';
import { ClusterWatch } from '../src/watch/cluster-watch.js';
import { Informer } from '../src/watch/informer.js';
import { figure, fmt, progress, QUICK, RUNS, writeResult } from './figures.js';

const BENCH = 'watch-latency';
const N = QUICK ? 1000 : 10_000;
const PUTS_PER_RUN = QUICK ? 20 : 100;
const prefix = '/registry/services/specs/';
const svc = (i: number, port = 80): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'default', name: `svc-${i}` },
    spec: { ports: [{ port, targetPort: 8080 }] },
  });
const key = (i: number): string => `${prefix}default/svc-${i}`;

async function batched(store: KvStore, ops: TxnOp[]): Promise<number> {
  let next = 0;
  let rev = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < ops.length) {
        const chunk = ops.slice(next, next + 100);
        next += 100;
        rev = Math.max(rev, (await store.txn([], chunk)).revision);
      }
    }),
  );
  return rev;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
}

const r3 = (x: number): number => Number(x.toFixed(3));

/** Resolvers keyed by etcd key: a put registers one before it is sent, so no event can be missed. */
class Waiters {
  private readonly map = new Map<string, () => void>();
  expect(k: string, at: number, into: number[]): Promise<void> {
    return new Promise((resolve) =>
      this.map.set(k, () => {
        into.push(performance.now() - at);
        resolve();
      }),
    );
  }
  seen(k: string): void {
    const done = this.map.get(k);
    this.map.delete(k);
    done?.();
  }
}

async function main(): Promise<void> {
  setLogLevel('error');
  const server = new EtcdServer();
  await server.start();
  const store = new KvStore(createEtcdClient({ endpoints: [server.endpoint] }), [server.endpoint]);
  // The peer keel is measured against: the etcd3 client used directly.
  const etcd3 = createEtcdClient({ endpoints: [server.endpoint] });
  const ac = new AbortController();
  try {
    await batched(
      store,
      Array.from({ length: N }, (_, i) => ({ put: key(i), value: svc(i) })),
    );
    progress(BENCH, `stored ${fmt(N)} services`);

    const list = { informer: [] as number[], etcd3: [] as number[] };
    let inf: Informer<Service> | undefined;
    for (let run = 1; run <= RUNS; run++) {
      const informer = new Informer<Service>({
        store,
        prefix,
        resource: 'bench',
        decode: (k, v, r) => decodeStored('Service', { key: k, value: v, modRevision: r }),
      });
      // Every run's informer but the last stops once it has listed, so only one keeps watching.
      const own = run === RUNS ? ac : new AbortController();
      let t = performance.now();
      await informer.start(own.signal);
      list.informer.push(performance.now() - t);
      if (run === RUNS) inf = informer;
      else own.abort();
      t = performance.now();
      await etcd3.getAll().prefix(prefix).strings();
      list.etcd3.push(performance.now() - t);
      progress(
        BENCH,
        `initial list of ${fmt(N)} services, run ${run}/${RUNS}: informer ${fmt(list.informer.at(-1) ?? NaN)} ms, etcd3 range ${fmt(list.etcd3.at(-1) ?? NaN)} ms`,
      );
    }
    if (!inf) throw new Error('no informer');

    const informerWaiters = new Waiters();
    inf.subscribe((ev) => informerWaiters.seen(ev.key));
    const peerWaiters = new Waiters();
    const peer = await etcd3.watch().prefix(prefix).create();
    peer.on('put', (kv) => peerWaiters.seen(kv.key.toString()));
    const consumerWaiters = new Waiters();
    const watch = new ClusterWatch({ store, prefix: '/registry' });
    watch.subscribe((_snap, changed) => {
      for (const name of changed.services) consumerWaiters.seen(`${prefix}${name}`);
    });
    await watch.start(ac.signal);

    const lat = { informer: [] as number[][], consumer: [] as number[][], etcd3: [] as number[][] };
    let put = 0;
    for (let run = 1; run <= RUNS; run++) {
      const [a, b, c] = [[], [], []] as number[][] as [number[], number[], number[]];
      for (let j = 0; j < PUTS_PER_RUN; j++, put++) {
        const k = key(put % N);
        const at = performance.now();
        const seen = [informerWaiters.expect(k, at, a), consumerWaiters.expect(k, at, b), peerWaiters.expect(k, at, c)];
        await store.txn([], [{ put: k, value: svc(put % N, 1_000 + put) }]);
        await Promise.all(seen);
      }
      lat.informer.push(a);
      lat.consumer.push(b);
      lat.etcd3.push(c);
      progress(
        BENCH,
        `put → event, run ${run}/${RUNS} (${PUTS_PER_RUN} puts): p50 informer ${fmt(quantile(a, 0.5))} ms, ClusterWatch ${fmt(quantile(b, 0.5))} ms, etcd3 watcher ${fmt(quantile(c, 0.5))} ms`,
      );
    }
    await peer.cancel();

    const churn = { cached: [] as number[], written: [] as number[] };
    for (let run = 1; run <= RUNS; run++) {
      const ops: TxnOp[] = Array.from({ length: N }, (_, i) =>
        (i + run) % 3 === 0 ? { delete: key(i) } : { put: key(i), value: svc(i, 5_000 + run * 7 + (i % 50_000)) },
      );
      const t = performance.now();
      const last = await batched(store, ops);
      churn.written.push(performance.now() - t);
      while (inf.revision() < last) await new Promise((r) => setTimeout(r, 1));
      churn.cached.push(performance.now() - t);
      progress(
        BENCH,
        `${fmt(N)} changes, run ${run}/${RUNS}: written ${fmt(churn.written.at(-1) ?? NaN)} ms, all in the informer's cache ${fmt(churn.cached.at(-1) ?? NaN)} ms`,
      );
    }

    const per = (runs: number[][], q: number): number[] => runs.map((xs) => r3(quantile(xs, q)));
    const watcher = (q: number) => ({ name: 'etcd3 watcher', samples: per(lat.etcd3, q) });
    writeResult({
      bench: BENCH,
      figures: [
        figure({
          figure: 0,
          name: `informer initial list + decode, ${fmt(N)} services`,
          unit: 'ms',
          keel: list.informer.map(r3),
          peer: { name: 'etcd3 range, raw strings', samples: list.etcd3.map(r3) },
          ratio: 'keel/peer',
        }),
        figure({
          figure: 0,
          name: 'put → informer event, p50',
          unit: 'ms',
          keel: per(lat.informer, 0.5),
          peer: watcher(0.5),
          ratio: 'keel/peer',
        }),
        figure({
          figure: 0,
          name: 'put → informer event, p99',
          unit: 'ms',
          keel: per(lat.informer, 0.99),
          peer: watcher(0.99),
          ratio: 'keel/peer',
        }),
        figure({
          figure: 0,
          name: 'put → ClusterWatch consumer call, p50',
          unit: 'ms',
          keel: per(lat.consumer, 0.5),
          peer: watcher(0.5),
          ratio: 'keel/peer',
        }),
        figure({
          figure: 0,
          name: `${fmt(N)} changes until all in the informer's cache`,
          unit: 'ms',
          keel: churn.cached.map(r3),
          peer: { name: 'etcd accepting them', samples: churn.written.map(r3) },
          ratio: 'keel/peer',
        }),
      ],
      notes: [
        `Private etcd on loopback, ${fmt(N)} Services; ${RUNS} runs of each measurement. Latencies: ${RUNS} runs of ${PUTS_PER_RUN} sequential puts, each timed until the informer, a ClusterWatch consumer and a plain etcd3 watcher (all watching at once) had it; p50/p99 per run.`,
        'Changes: txns of 100 operations, 8 in flight, a third of them deletes.',
      ],
      detail: { services: N, putsPerRun: PUTS_PER_RUN, listMs: list, latencyMs: lat, churnMs: churn },
    });
  } finally {
    ac.abort();
    store.close();
    etcd3.close();
    await server.stop();
  }
}

await main();
