/**
 * A lighter simulated node (configurations suffixed `:thin`): the same etcd
 * client, connection and Informers as a FullNode — same prefixes, page
 * size, watches on one shared stream, resume, relist and jitter — so etcd
 * and the proxy see the same requests, but each object is decoded only as
 * far as the bench reads it: its mod revision, under its key. A full node
 * decodes all 30k objects of a 10k-service cluster into keel's typed
 * objects (~61 MB and ~1.2 CPU s per node, docs/scale.md), which bounds a
 * simulation of 1,000 nodes here by memory; the thin node leaves that
 * decode, the snapshot and its delivery out, so its figures speak for etcd
 * and the proxy, not for an agent's own cost.
 */
import { RESOURCES } from '../../src/api/object.js';
import type { ResourceKind } from '../../src/api/meta.js';
import { Informer } from '../../src/watch/informer.js';
import type { NodeSpec } from './node-worker.js';
import { LEASES_PREFIX, now, SimNode, type Counted, type InformerState } from './sim-node.js';

/** ClusterWatch's prefixes, in its order (its informers start in this order). */
const KINDS = { services: 'Service', endpoints: 'Endpoints', pods: 'Pod', endpointslices: 'EndpointSlice' } as const satisfies Record<
  string,
  ResourceKind
>;

export class ThinNode extends SimNode {
  private readonly kinds: Record<keyof typeof KINDS, Informer<number>>;
  private readonly leases: Informer<number>;
  /** Set once the Endpoints' first listing is in: changes the bench asks about come later (earlier revisions never answer seen()). */
  private recording = false;

  constructor(spec: NodeSpec, relistJitterMs: number) {
    super(spec);
    const informer = (prefix: string, resource: string): Informer<number> =>
      new Informer<number>({ store: this.store, prefix, resource, decode: (_key, _value, modRevision) => modRevision, relistJitterMs });
    const byKind = (k: keyof typeof KINDS): Informer<number> => informer(`/registry/${RESOURCES[KINDS[k]].registryPath}/`, k);
    this.kinds = {
      services: byKind('services'),
      endpoints: byKind('endpoints'),
      pods: byKind('pods'),
      endpointslices: byKind('endpointslices'),
    };
    this.leases = informer(LEASES_PREFIX, 'leases');
    this.kinds.endpoints.subscribe((ev) => {
      if (ev.type === 'delete' || !this.recording) return;
      this.record(ev.key.split('/').slice(-2).join('/'), ev.object, now());
    });
  }

  async start(signal: AbortSignal): Promise<void> {
    // In ClusterWatch's order, then the leases, as a FullNode starts them.
    const started = [...Object.values(this.kinds), this.leases].map((i) =>
      i === this.kinds.endpoints
        ? i.start(signal).then(() => {
            this.recording = true;
          })
        : i.start(signal),
    );
    await Promise.all(started);
  }

  endpointRevisions(): Map<string, number> {
    return new Map(this.kinds.endpoints.items());
  }

  protected counted(): Counted {
    const { services, endpoints, pods } = this.kinds;
    return { services, endpoints, pods, leases: this.leases };
  }

  protected slices(): InformerState {
    return this.kinds.endpointslices;
  }
}
