/**
 * What the fleet bench asks of one simulated node, whichever way it decodes
 * (full-node.ts: keel's typed objects; thin-node.ts: revisions only). Both
 * keep an own etcd client on an own connection and keel's real Informers
 * over the same five prefixes, so etcd and the proxy see the same calls.
 * The bench's changes are Endpoints writes: a node records, per Endpoints
 * it holds, every resourceVersion (etcd mod revision) and when it first
 * held it, so "node n held change c" means it had that object at that
 * revision or later — content, not a revision counter that a progress
 * notification could move past a lost event.
 */
import { performance } from 'node:perf_hooks';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { KvStore } from '../../src/store/kv-store.js';
import type { Informer } from '../../src/watch/informer.js';
import type { NodeDiff, NodeSpec } from './node-worker.js';

/** What the bench reads of an informer, whatever it decodes to. */
export type InformerState = Pick<Informer<unknown>, 'stats' | 'isConnected' | 'revision'>;

/** The informers counted for relists and reconnects, by resource. */
export type Counted = Record<'services' | 'endpoints' | 'pods' | 'leases', InformerState>;

export const now = (): number => performance.timeOrigin + performance.now();

/** The lease informer's prefix (flannel's layout), as the overlay watches it. */
export const LEASES_PREFIX = '/coreos.com/network/subnets/';

export abstract class SimNode {
  readonly store: KvStore;
  /** Per Endpoints name, every held resourceVersion and its wall time, in order. */
  private readonly held = new Map<string, { revs: number[]; times: number[] }>();

  constructor(readonly spec: NodeSpec) {
    this.store = new KvStore(
      createEtcdClient({ endpoints: spec.endpoints, callTimeoutMs: 30_000, connectionKey: `node-${spec.id}` }),
      spec.endpoints,
    );
  }

  /** Resolves once every informer has listed once. */
  abstract start(signal: AbortSignal): Promise<void>;

  /** Endpoints key → the mod revision this node holds it at. */
  abstract endpointRevisions(): Map<string, number>;

  /** The informers counted for relists and reconnects, by resource (EndpointSlices apart: listed and watched, never counted). */
  protected abstract counted(): Counted;

  protected abstract slices(): InformerState | undefined;

  /** Ms from `at` until this node first held Endpoints `name` at revision `rev` or later (NaN: not yet). */
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
    const counted = Object.values(this.counted());
    const all = counted.map((i) => i.stats());
    return {
      relists: all.reduce((s, x) => s + x.relists, 0),
      reconnects: all.reduce((s, x) => s + x.reconnects, 0),
      connected: [...counted, this.slices()].every((i) => i?.isConnected() ?? true),
    };
  }

  informers(): NodeDiff['informers'] {
    return Object.entries(this.counted()).map(([resource, i]) => ({
      resource,
      revision: i.revision(),
      ...i.stats(),
      connected: i.isConnected(),
    }));
  }

  /** Endpoints `name` (namespace/name) held at `revision` from wall time `t`. */
  protected record(name: string, revision: number, t: number): void {
    let h = this.held.get(name);
    if (!h) this.held.set(name, (h = { revs: [], times: [] }));
    const last = h.revs.at(-1);
    if (last !== undefined && revision <= last) return;
    h.revs.push(revision);
    h.times.push(t);
  }
}
