import type { ClusterSnapshot, NamespacedName } from '../api/cluster-state.js';
import type { EndpointSlice } from '../api/endpoint-slice.js';
import type { Endpoints } from '../api/endpoints.js';
import type { Pod } from '../api/pod.js';
import type { Service } from '../api/service.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';

type Entries<T> = [NamespacedName, T | undefined][];

/**
 * What a DNS worker thread needs to follow one delivery: the changed keys'
 * objects (undefined: gone), or every object when the delivery is full.
 * Structured-cloning the whole snapshot per change would be O(cluster).
 */
export interface SnapshotDelta {
  revision: number;
  full: boolean;
  services: Entries<Service>;
  endpoints: Entries<Endpoints>;
  pods: Entries<Pod>;
  /** Present when EndpointSlices are the endpoint source: each changed service's slices. */
  endpointSlices: Entries<readonly EndpointSlice[]> | undefined;
}

/** The delta of one delivery; full also when the endpoint source switched (the replica's maps are then replaced). */
export function snapshotDelta(snap: ClusterSnapshot, changed: ChangedKeys, lastHadSlices: boolean | undefined): SnapshotDelta {
  const slices = snap.endpointSlices;
  const full = changed.full || lastHadSlices !== (slices !== undefined);
  const pick = <T>(map: ReadonlyMap<NamespacedName, T>, keys: ReadonlySet<NamespacedName>): Entries<T> =>
    full ? [...map] : [...keys].map((k) => [k, map.get(k)]);
  return {
    revision: snap.revision,
    full,
    services: pick(snap.services, changed.services),
    endpoints: pick(snap.endpoints, changed.endpoints),
    pods: pick(snap.pods, changed.pods),
    endpointSlices: slices && pick(slices, changed.endpoints),
  };
}

/**
 * The worker's side: its own copy of the snapshot, kept by applying deltas
 * in order. Unchanged objects keep their identity between deliveries, as
 * in the agent's snapshots.
 */
export class SnapshotReplica {
  private services = new Map<NamespacedName, Service>();
  private endpoints = new Map<NamespacedName, Endpoints>();
  private pods = new Map<NamespacedName, Pod>();
  private slices: Map<NamespacedName, readonly EndpointSlice[]> | undefined;

  apply(delta: SnapshotDelta): { snap: ClusterSnapshot; changed: ChangedKeys } {
    if (delta.full) {
      this.services = new Map();
      this.endpoints = new Map();
      this.pods = new Map();
      this.slices = delta.endpointSlices && new Map();
    }
    const changed: ChangedKeys = {
      services: put(this.services, delta.services),
      endpoints: new Set([...put(this.endpoints, delta.endpoints), ...(this.slices ? put(this.slices, delta.endpointSlices ?? []) : [])]),
      pods: put(this.pods, delta.pods),
      full: delta.full,
    };
    const snap: ClusterSnapshot = {
      revision: delta.revision,
      services: this.services,
      endpoints: this.endpoints,
      pods: this.pods,
      ...(this.slices ? { endpointSlices: this.slices } : {}),
    };
    return { snap, changed };
  }
}

function put<T>(map: Map<NamespacedName, T>, entries: Entries<T>): Set<NamespacedName> {
  for (const [key, value] of entries) {
    if (value === undefined) map.delete(key);
    else map.set(key, value);
  }
  return new Set(entries.map(([key]) => key));
}
