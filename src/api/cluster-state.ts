import type { Endpoints } from './endpoints.js';
import type { EndpointSlice } from './endpoint-slice.js';
import type { Pod } from './pod.js';
import type { Service } from './service.js';

/** `namespace/name`: how caches and snapshots key objects. */
export type NamespacedName = string;

export function namespacedName(namespace: string, name: string): NamespacedName {
  return `${namespace}/${name}`;
}

/**
 * One consistent view of the cluster, as the watch layer delivers it to
 * consumers (proxies, DNS): Services and Endpoints joined by namespace/name
 * happen through the shared key. Read-only: consumers never mutate it.
 */
export interface ClusterSnapshot {
  /** etcd revision the snapshot reflects (0 when built offline from manifests). */
  readonly revision: number;
  readonly services: ReadonlyMap<NamespacedName, Service>;
  readonly endpoints: ReadonlyMap<NamespacedName, Endpoints>;
  readonly pods: ReadonlyMap<NamespacedName, Pod>;
  /**
   * Present when EndpointSlices are the endpoint source (--endpoints-source): each service's
   * slices, by the service's key, sorted by slice name. Absent: v1 Endpoints are.
   */
  readonly endpointSlices?: ReadonlyMap<NamespacedName, readonly EndpointSlice[]>;
}

export function emptySnapshot(): ClusterSnapshot {
  return { revision: 0, services: new Map(), endpoints: new Map(), pods: new Map() };
}
