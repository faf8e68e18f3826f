import { namespacedName, type ClusterSnapshot, type NamespacedName } from '../api/cluster-state.js';
import type { Endpoints } from '../api/endpoints.js';
import type { ResourceKind } from '../api/meta.js';
import { RESOURCES, type ApiObject } from '../api/object.js';
import type { Pod } from '../api/pod.js';
import type { Service } from '../api/service.js';
import { createLogger, type Logger } from '../observe/log.js';
import type { KvStore } from '../store/kv-store.js';
import { decodeStored, type ObjectOfKind } from '../store/object-store.js';
import type { BackoffOptions } from '../runtime/backoff.js';
import { Informer, type InformerEvent } from './informer.js';
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
}

const KINDS = { services: 'Service', endpoints: 'Endpoints', pods: 'Pod' } as const satisfies Record<SnapshotKind, ResourceKind>;

/**
 * Services, Endpoints and Pods from etcd as one stream of snapshots.
 * Three informers keep the caches; every change is recorded for every
 * consumer, and each consumer receives the current snapshot plus the
 * keys that changed since its previous call, never overlapping calls.
 */
export class ClusterWatch {
  readonly services: Informer<Service>;
  readonly endpoints: Informer<Endpoints>;
  readonly pods: Informer<Pod>;
  private readonly maps: {
    services: Map<NamespacedName, Service>;
    endpoints: Map<NamespacedName, Endpoints>;
    pods: Map<NamespacedName, Pod>;
  } = {
    services: new Map(),
    endpoints: new Map(),
    pods: new Map(),
  };
  private snapshot: ClusterSnapshot | undefined;
  private readonly dirty = new Set<SnapshotKind>();
  private readonly deliveries = new Set<SnapshotDelivery>();
  private readonly log: Logger;
  /** Set by start(): deliveries subscribed later start on it. */
  private signal: AbortSignal | undefined;

  constructor(private readonly options: ClusterWatchOptions) {
    this.log = options.logger ?? createLogger('watch');
    this.services = this.informer('services');
    this.endpoints = this.informer('endpoints');
    this.pods = this.informer('pods');
  }

  /** Resolves when all three informers have listed once (or the signal aborted); deliveries follow until the abort. */
  async start(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    for (const d of this.deliveries) void d.start(signal);
    await Promise.all([this.services.start(signal), this.endpoints.start(signal), this.pods.start(signal)]);
    for (const d of this.deliveries) d.kick();
  }

  hasSynced(): boolean {
    return this.services.hasSynced() && this.endpoints.hasSynced() && this.pods.hasSynced();
  }

  isConnected(): boolean {
    return this.services.isConnected() && this.endpoints.isConnected() && this.pods.isConnected();
  }

  /**
   * The current caches as an immutable snapshot (rebuilt only after a
   * change). Its revision is the newest any informer has reached; each
   * kind is complete up to its own informer's `revision()`.
   */
  current(): ClusterSnapshot {
    const revision = Math.max(this.services.revision(), this.endpoints.revision(), this.pods.revision());
    const prev = this.snapshot;
    if (prev && this.dirty.size === 0 && prev.revision === revision) return prev;
    // Copy only the kinds that changed: endpoint churn must not copy every Service.
    const copy = <V>(
      kind: SnapshotKind,
      live: Map<NamespacedName, V>,
      old: ReadonlyMap<NamespacedName, V> | undefined,
    ): ReadonlyMap<NamespacedName, V> => (old && !this.dirty.has(kind) ? old : new Map(live));
    const snapshot: ClusterSnapshot = {
      revision,
      services: copy('services', this.maps.services, prev?.services),
      endpoints: copy('endpoints', this.maps.endpoints, prev?.endpoints),
      pods: copy('pods', this.maps.pods, prev?.pods),
    };
    this.snapshot = snapshot;
    this.dirty.clear();
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

  private informer<K extends SnapshotKind>(kind: K): Informer<ObjectOfKind<(typeof KINDS)[K]>> {
    const resourceKind = KINDS[kind];
    const informer = new Informer<ObjectOfKind<(typeof KINDS)[K]>>({
      store: this.options.store,
      prefix: `${this.options.prefix.replace(/\/+$/, '')}/${RESOURCES[resourceKind].registryPath}/`,
      resource: kind,
      decode: (key, value, modRevision) => decodeStored(resourceKind, { key, value, modRevision }),
      logger: this.log.child(kind),
      ...(this.options.pageSize === undefined ? {} : { pageSize: this.options.pageSize }),
      ...(this.options.backoff === undefined ? {} : { backoff: this.options.backoff }),
      ...(this.options.relistJitterMs === undefined ? {} : { relistJitterMs: this.options.relistJitterMs }),
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
    this.dirty.add(kind);
    for (const d of this.deliveries) d.record(kind, key, previous, current);
  }
}
