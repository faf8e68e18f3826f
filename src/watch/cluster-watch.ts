import { namespacedName, type ClusterSnapshot, type NamespacedName } from '../api/cluster-state.js';
import type { Endpoints } from '../api/endpoints.js';
import type { EndpointSlice, EndpointsSource } from '../api/endpoint-slice.js';
import type { ResourceKind } from '../api/meta.js';
import { RESOURCES, type ApiObject } from '../api/object.js';
import type { Pod } from '../api/pod.js';
import type { Service } from '../api/service.js';
import { createLogger, type Logger } from '../observe/log.js';
import type { KvStore } from '../store/kv-store.js';
import { decodeStored, type ObjectOfKind } from '../store/object-store.js';
import type { BackoffOptions } from '../runtime/backoff.js';
import { Informer, type InformerEvent, type InformerOptions } from './informer.js';
import { LayeredMap } from './layered-map.js';
import { SliceGroups } from './slice-groups.js';
import { SnapshotDelivery, type SnapshotConsumer, type SnapshotKind } from './snapshot-delivery.js';

export type { ChangedKeys, SnapshotConsumer } from './snapshot-delivery.js';

export interface ClusterWatchOptions {
  store: KvStore;
  /** Registry prefix, e.g. `/registry`. */
  prefix: string;
  /** Minimum time between two deliveries to one consumer (default 0: a lone change goes out at once). */
  minDelayMs?: number;
  logger?: Logger;
  pageSize?: number;
  backoff?: BackoffOptions;
  /** See InformerOptions.relistJitterMs. */
  relistJitterMs?: number;
  /** Where service endpoints come from (default `auto`: EndpointSlices when etcd holds any, else v1 Endpoints). */
  endpointsSource?: EndpointsSource;
}

const KINDS = { services: 'Service', endpoints: 'Endpoints', pods: 'Pod' } as const satisfies Record<SnapshotKind, ResourceKind>;

/**
 * Services, Endpoints, Pods and EndpointSlices from etcd as one stream of snapshots.
 * One informer per kind keeps its cache; every change is recorded for every
 * consumer, and each consumer receives the current snapshot plus the
 * keys that changed since its previous call, never overlapping calls.
 */
export class ClusterWatch {
  readonly services: Informer<Service>;
  readonly endpoints: Informer<Endpoints>;
  readonly pods: Informer<Pod>;
  /** Absent with --endpoints-source endpoints. */
  readonly endpointSlices: Informer<EndpointSlice> | undefined;
  private readonly sliceGroups = new SliceGroups();
  /** Whether snapshots carry slices (the source resolved; for `auto` it follows whether etcd holds any). */
  private usingSlices: boolean;
  private readonly maps: {
    services: Map<NamespacedName, Service>;
    endpoints: Map<NamespacedName, Endpoints>;
    pods: Map<NamespacedName, Pod>;
  } = {
    services: new Map(),
    endpoints: new Map(),
    pods: new Map(),
  };
  /** What changed since the last snapshot, per kind and in the slice groups (undefined: deleted). */
  private pending: {
    services: Map<NamespacedName, Service | undefined>;
    endpoints: Map<NamespacedName, Endpoints | undefined>;
    pods: Map<NamespacedName, Pod | undefined>;
    slices: Map<NamespacedName, readonly EndpointSlice[] | undefined>;
  } = { services: new Map(), endpoints: new Map(), pods: new Map(), slices: new Map() };
  /** The last snapshot and its maps, from which the next one is made by applying `pending`. */
  private snapshot: ClusterSnapshot | undefined;
  private layered:
    | {
        services: LayeredMap<NamespacedName, Service>;
        endpoints: LayeredMap<NamespacedName, Endpoints>;
        pods: LayeredMap<NamespacedName, Pod>;
        slices: LayeredMap<NamespacedName, readonly EndpointSlice[]> | undefined;
      }
    | undefined;
  private readonly deliveries = new Set<SnapshotDelivery>();
  private readonly log: Logger;
  /** Set by start(): deliveries subscribed later start on it. */
  private signal: AbortSignal | undefined;

  constructor(private readonly options: ClusterWatchOptions) {
    this.log = options.logger ?? createLogger('watch');
    this.services = this.informer('services');
    this.endpoints = this.informer('endpoints');
    this.pods = this.informer('pods');
    const source = options.endpointsSource ?? 'auto';
    this.usingSlices = source === 'endpointslices';
    this.endpointSlices = source === 'endpoints' ? undefined : this.sliceInformer();
  }

  /** Resolves when all three informers have listed once (or the signal aborted); deliveries follow until the abort. */
  async start(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    for (const d of this.deliveries) void d.start(signal);
    await Promise.all(this.all().map((i) => i.start(signal)));
    for (const d of this.deliveries) d.kick();
  }

  hasSynced(): boolean {
    return this.all().every((i) => i.hasSynced());
  }

  isConnected(): boolean {
    return this.all().every((i) => i.isConnected());
  }

  /**
   * The current caches as an immutable snapshot (rebuilt only after a
   * change). Its revision is the newest any informer has reached; each
   * kind is complete up to its own informer's `revision()`.
   */
  current(): ClusterSnapshot {
    const revision = Math.max(...this.all().map((i) => i.revision()));
    const prev = this.snapshot;
    const { services, endpoints, pods, slices } = this.pending;
    const slicesCurrent = this.usingSlices === (this.layered?.slices !== undefined) && slices.size === 0;
    const unchanged = services.size + endpoints.size + pods.size === 0;
    if (prev && unchanged && slicesCurrent && prev.revision === revision) return prev;
    // Each kind is the last snapshot's plus what changed since: endpoint churn costs the change, not the cluster.
    const was = this.layered;
    const layered = {
      services: was ? was.services.with(services) : LayeredMap.of(this.maps.services),
      endpoints: was ? was.endpoints.with(endpoints) : LayeredMap.of(this.maps.endpoints),
      pods: was ? was.pods.with(pods) : LayeredMap.of(this.maps.pods),
      slices: !this.usingSlices ? undefined : was?.slices ? was.slices.with(slices) : LayeredMap.of(this.sliceGroups.byService()),
    };
    const snapshot: ClusterSnapshot = {
      revision,
      services: layered.services,
      endpoints: layered.endpoints,
      pods: layered.pods,
      ...(layered.slices ? { endpointSlices: layered.slices } : {}),
    };
    this.snapshot = snapshot;
    this.layered = layered;
    this.pending = { services: new Map(), endpoints: new Map(), pods: new Map(), slices: new Map() };
    return snapshot;
  }

  subscribe(consumer: SnapshotConsumer): () => void {
    const delivery = new SnapshotDelivery(consumer, this, this.options.minDelayMs ?? 0, this.log);
    this.deliveries.add(delivery);
    if (this.signal) void delivery.start(this.signal);
    return () => {
      delivery.close();
      this.deliveries.delete(delivery);
    };
  }

  private informerOptions(resource: string, kind: ResourceKind): Omit<InformerOptions<unknown>, 'decode'> {
    return {
      store: this.options.store,
      prefix: `${this.options.prefix.replace(/\/+$/, '')}/${RESOURCES[kind].registryPath}/`,
      resource,
      logger: this.log.child(resource),
      ...(this.options.pageSize === undefined ? {} : { pageSize: this.options.pageSize }),
      ...(this.options.backoff === undefined ? {} : { backoff: this.options.backoff }),
      ...(this.options.relistJitterMs === undefined ? {} : { relistJitterMs: this.options.relistJitterMs }),
    };
  }

  private all(): Informer<ApiObject>[] {
    return [this.services, this.endpoints, this.pods, ...(this.endpointSlices ? [this.endpointSlices] : [])] as Informer<ApiObject>[];
  }

  private sliceInformer(): Informer<EndpointSlice> {
    const informer = new Informer<EndpointSlice>({
      ...this.informerOptions('endpointslices', 'EndpointSlice'),
      decode: (key, value, modRevision) => decodeStored('EndpointSlice', { key, value, modRevision }),
    });
    informer.subscribe((ev) => this.onSliceEvent(ev));
    informer.onRelist(() => {
      for (const d of this.deliveries) d.markFull();
    });
    return informer;
  }

  /** A slice changed: its service's group is recorded as that service's endpoints change, while slices are the source. */
  private onSliceEvent(ev: InformerEvent<EndpointSlice>): void {
    const { namespace, name } = ev.object.metadata;
    const changes = this.sliceGroups.apply(namespace, name, ev.type === 'delete' ? undefined : ev.object);
    for (const c of changes) this.pending.slices.set(c.key, c.after);
    const using = this.options.endpointsSource === 'endpointslices' || this.sliceGroups.size > 0;
    if (using !== this.usingSlices) {
      // auto switched source (the first slice appeared, or the last went): every service's endpoints change.
      this.usingSlices = using;
      this.log.info('endpoint source', { source: using ? 'endpointslices' : 'endpoints' });
      for (const d of this.deliveries) d.markFull();
      return;
    }
    if (!using) return;
    for (const c of changes) for (const d of this.deliveries) d.record('endpoints', c.key, c.before, c.after);
  }

  private informer<K extends SnapshotKind>(kind: K): Informer<ObjectOfKind<(typeof KINDS)[K]>> {
    const resourceKind = KINDS[kind];
    const informer = new Informer<ObjectOfKind<(typeof KINDS)[K]>>({
      ...this.informerOptions(kind, resourceKind),
      decode: (key, value, modRevision) => decodeStored(resourceKind, { key, value, modRevision }),
    });
    informer.subscribe((ev) => this.onEvent(kind, ev));
    informer.onRelist(() => {
      for (const d of this.deliveries) d.markFull();
    });
    return informer;
  }

  private onEvent(kind: SnapshotKind, ev: InformerEvent<ApiObject>): void {
    const map = this.maps[kind] as Map<NamespacedName, ApiObject>;
    const key = namespacedName(ev.object.metadata.namespace, ev.object.metadata.name);
    const previous = map.get(key);
    const current = ev.type === 'delete' ? undefined : ev.object;
    if (current) map.set(key, current);
    else map.delete(key);
    (this.pending[kind] as Map<NamespacedName, ApiObject | undefined>).set(key, current);
    for (const d of this.deliveries) d.record(kind, key, previous, current);
  }
}
