/**
 * One process of simulated nodes for the fleet bench (bench/fleet.ts starts
 * several, inside the cluster's network namespace). Each node is what a keel
 * agent keeps of etcd, with none of the kernel work: its own etcd client on
 * its own connection, keel's ClusterWatch (Services, Endpoints, Pods) with a
 * consumer as the proxy's, and the overlay's lease informer. The bench's
 * changes are Endpoints writes: each node records, per Endpoints delivered
 * to its consumer, the object's resourceVersion (its etcd mod revision) and
 * the time, so "node n held change c" means its consumer had that object at
 * that revision or later — content, not a revision counter that a progress
 * notification could move past a lost event.
 *
 * Messages (process IPC, 'advanced' serialization): 'ready' once loaded;
 * start → 'synced' per node; seen, stats, diff, stop → one answer each.
 */
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { decodeLease, type Lease } from '../../src/overlay/lease.js';
import { setLogLevel } from '../../src/observe/log.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { KvStore } from '../../src/store/kv-store.js';
import { ClusterWatch } from '../../src/watch/cluster-watch.js';
import { Informer } from '../../src/watch/informer.js';

export interface NodeSpec {
  id: number;
  endpoints: string[];
}

export type ToWorker =
  | { type: 'start'; nodes: NodeSpec[]; relistJitterMs: number }
  | { type: 'seen'; changes: { name: string; rev: number; at: number }[] }
  | { type: 'stats' }
  | { type: 'diff'; truth: [string, number][] }
  | { type: 'stop' };

export interface WorkerStats {
  rssMb: number;
  heapMb: number;
  synced: number;
  relists: number;
  reconnects: number;
  /** Nodes with at least one informer not connected to etcd (a stalled storm tells these apart from slow ones). */
  disconnected: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'synced'; id: number; at: number }
  | { type: 'seen'; nodes: number; latencies: Float64Array }
  | { type: 'stats'; stats: WorkerStats }
  | { type: 'diff'; nodes: NodeDiff[] }
  | { type: 'stopped' };

/** How one node's Endpoints cache differs from etcd's listing, and the state of its informers. */
export interface NodeDiff {
  id: number;
  missing: string[];
  extra: string[];
  /** Keys held at another revision: key, node's revision, etcd's. */
  other: [string, number, number][];
  informers: { resource: string; revision: number; relists: number; reconnects: number; connected: boolean }[];
}

const now = (): number => performance.timeOrigin + performance.now();

class SimNode {
  readonly store: KvStore;
  readonly watch: ClusterWatch;
  readonly leases: Informer<Lease>;
  /** Per Endpoints name, every delivered resourceVersion and its wall time, in order. */
  private readonly held = new Map<string, { revs: number[]; times: number[] }>();

  constructor(
    readonly spec: NodeSpec,
    relistJitterMs: number,
  ) {
    this.store = new KvStore(
      createEtcdClient({ endpoints: spec.endpoints, callTimeoutMs: 30_000, connectionKey: `node-${spec.id}` }),
      spec.endpoints,
    );
    this.watch = new ClusterWatch({ store: this.store, prefix: '/registry', relistJitterMs });
    this.watch.subscribe((snapshot, changed) => {
      const t = now();
      for (const name of changed.endpoints) {
        const rv = Number(snapshot.endpoints.get(name)?.metadata.resourceVersion ?? NaN);
        if (Number.isFinite(rv)) this.record(name, rv, t);
      }
    });
    this.leases = new Informer<Lease>({
      store: this.store,
      prefix: '/coreos.com/network/subnets/',
      resource: 'leases',
      decode: (key, value) => decodeLease(key, value),
      relistJitterMs,
    });
  }

  async start(signal: AbortSignal): Promise<void> {
    await Promise.all([this.watch.start(signal), this.leases.start(signal)]);
  }

  /** Ms from `at` until this node's consumer first had Endpoints `name` at revision `rev` or later (NaN: not yet). */
  seen(name: string, rev: number, at: number): number {
    const h = this.held.get(name);
    if (!h) return NaN;
    let lo = 0;
    let hi = h.revs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((h.revs[mid] as number) >= rev) hi = mid;
      else lo = mid + 1;
    }
    const t = h.times[lo];
    return t === undefined ? NaN : t - at;
  }

  counts(): { relists: number; reconnects: number; connected: boolean } {
    const counted = [this.watch.services, this.watch.endpoints, this.watch.pods, this.leases];
    const all = counted.map((i) => i.stats());
    return {
      relists: all.reduce((s, x) => s + x.relists, 0),
      reconnects: all.reduce((s, x) => s + x.reconnects, 0),
      connected: [...counted, this.watch.endpointSlices].every((i) => i?.isConnected() ?? true),
    };
  }

  informers(): NodeDiff['informers'] {
    const named = { services: this.watch.services, endpoints: this.watch.endpoints, pods: this.watch.pods, leases: this.leases };
    return Object.entries(named).map(([resource, i]) => ({ resource, revision: i.revision(), ...i.stats(), connected: i.isConnected() }));
  }

  private record(name: string, revision: number, t: number): void {
    let h = this.held.get(name);
    if (!h) this.held.set(name, (h = { revs: [], times: [] }));
    const last = h.revs.at(-1);
    if (last !== undefined && revision <= last) return;
    h.revs.push(revision);
    h.times.push(t);
  }
}

const nodes: SimNode[] = [];
const ac = new AbortController();
// Every node's informers listen on this one signal.
setMaxListeners(0, ac.signal);
let synced = 0;
const send = (msg: FromWorker): void => {
  process.send?.(msg);
};

// The bench ended (or died): nothing is left to report to.
process.on('disconnect', () => process.exit(0));
process.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'start':
      for (const spec of msg.nodes) {
        const node = new SimNode(spec, msg.relistJitterMs);
        nodes.push(node);
        void node.start(ac.signal).then(() => {
          if (ac.signal.aborted) return;
          synced++;
          send({ type: 'synced', id: spec.id, at: now() });
        });
      }
      return;
    case 'seen': {
      const latencies = new Float64Array(msg.changes.length * nodes.length);
      msg.changes.forEach((c, i) => nodes.forEach((n, j) => (latencies[i * nodes.length + j] = n.seen(c.name, c.rev, c.at))));
      return send({ type: 'seen', nodes: nodes.length, latencies });
    }
    case 'stats': {
      const counts = nodes.map((n) => n.counts());
      const mem = process.memoryUsage();
      return send({
        type: 'stats',
        stats: {
          rssMb: mem.rss / 2 ** 20,
          heapMb: mem.heapUsed / 2 ** 20,
          synced,
          relists: counts.reduce((s, c) => s + c.relists, 0),
          reconnects: counts.reduce((s, c) => s + c.reconnects, 0),
          disconnected: counts.filter((c) => !c.connected).length,
        },
      });
    }
    case 'diff': {
      const truth = new Map(msg.truth);
      const out: NodeDiff[] = [];
      for (const n of nodes) {
        const held = new Map([...n.watch.endpoints.items()].map(([key, e]) => [key, Number(e.metadata.resourceVersion ?? NaN)]));
        const missing = [...truth.keys()].filter((k) => !held.has(k));
        const extra = [...held.keys()].filter((k) => !truth.has(k));
        const other = [...held]
          .filter(([k, r]) => truth.has(k) && truth.get(k) !== r)
          .map(([k, r]) => [k, r, truth.get(k) ?? NaN] as [string, number, number]);
        if (!missing.length && !extra.length && !other.length) continue;
        out.push({ id: n.spec.id, missing, extra, other, informers: n.informers() });
      }
      return send({ type: 'diff', nodes: out });
    }
    case 'stop':
      ac.abort();
      for (const n of nodes) n.store.close();
      send({ type: 'stopped' });
      process.disconnect();
      return;
  }
});

// KEEL_LOG_LEVEL=warn shows the nodes' own log lines (retries, relists).
if (!process.env.KEEL_LOG_LEVEL) setLogLevel('error');
send({ type: 'ready' });
