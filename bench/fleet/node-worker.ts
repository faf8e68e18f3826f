/**
 * One process of simulated nodes for the fleet bench (bench/fleet.ts starts
 * several, inside the cluster's network namespace): full nodes (full-node.ts,
 * what a keel agent keeps of etcd) or thin ones (thin-node.ts, the same
 * calls to etcd with revisions only kept), see sim-node.ts.
 *
 * Messages (process IPC, 'advanced' serialization): 'ready' once loaded;
 * start → 'synced' per node; seen, stats, diff, stop → one answer each.
 */
import { setMaxListeners } from 'node:events';
import { setLogLevel } from '../../src/observe/log.js';
import { FullNode } from './full-node.js';
import { now, type SimNode } from './sim-node.js';
import { ThinNode } from './thin-node.js';

export interface NodeSpec {
  id: number;
  endpoints: string[];
}

export type ToWorker =
  | { type: 'start'; nodes: NodeSpec[]; relistJitterMs: number; thin: boolean }
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
        const node = msg.thin ? new ThinNode(spec, msg.relistJitterMs) : new FullNode(spec, msg.relistJitterMs);
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
        const held = n.endpointRevisions();
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
