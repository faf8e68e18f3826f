/**
 * A simulated node that keeps what a keel agent keeps of etcd, with none of
 * the kernel work: keel's ClusterWatch (Services, Endpoints, Pods,
 * EndpointSlices decoded into keel's typed objects) with a consumer as the
 * proxy's, and the overlay's lease informer. It records an Endpoints change
 * when the snapshot delivered to its consumer holds it.
 */
import { decodeLease, type Lease } from '../../src/overlay/lease.js';
import { ClusterWatch } from '../../src/watch/cluster-watch.js';
import { Informer } from '../../src/watch/informer.js';
import type { NodeSpec } from './node-worker.js';
import { LEASES_PREFIX, now, SimNode, type Counted, type InformerState } from './sim-node.js';

export class FullNode extends SimNode {
  private readonly watch: ClusterWatch;
  private readonly leases: Informer<Lease>;

  constructor(spec: NodeSpec, relistJitterMs: number) {
    super(spec);
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
      prefix: LEASES_PREFIX,
      resource: 'leases',
      decode: (key, value) => decodeLease(key, value),
      relistJitterMs,
    });
  }

  async start(signal: AbortSignal): Promise<void> {
    await Promise.all([this.watch.start(signal), this.leases.start(signal)]);
  }

  endpointRevisions(): Map<string, number> {
    return new Map([...this.watch.endpoints.items()].map(([key, e]) => [key, Number(e.metadata.resourceVersion ?? NaN)]));
  }

  protected counted(): Counted {
    const { services, endpoints, pods } = this.watch;
    return { services, endpoints, pods, leases: this.leases };
  }

  protected slices(): InformerState | undefined {
    return this.watch.endpointSlices;
  }
}
