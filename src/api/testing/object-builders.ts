import { namespacedName, type ClusterSnapshot } from '../cluster-state.js';
import { validateEndpoints, type Endpoints } from '../endpoints.js';
import { validatePod, type Pod } from '../pod.js';
import { validateService, type Service } from '../service.js';

/**
 * Builders for the tests of every consumer (proxies, DNS, service view,
 * describe, benches), in the style of kube-proxy's makeTestService: a
 * minimal valid object plus a mutator (or the spec itself) over the raw
 * manifest, validated like any object read from etcd so defaults are filled
 * the same way.
 */
/** A raw manifest, free-form as tests shape it. */
export type Manifest = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function makeService(ns: string, name: string, spec: Manifest | ((spec: Manifest, raw: Manifest) => void)): Service {
  const raw: Manifest = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec: { ports: [] } };
  if (typeof spec === 'function') spec(raw.spec as Manifest, raw);
  else Object.assign(raw.spec as Manifest, spec);
  return validateService(raw, { mode: 'stored' });
}

export interface EpAddr {
  ip: string;
  node?: string;
  ready?: boolean;
}

/** One subset: the addresses (not ready where `ready: false`) serving `ports`. */
export function makeEndpoints(
  ns: string,
  name: string,
  addrs: EpAddr[],
  ports: { name?: string; port: number; protocol?: string }[],
): Endpoints {
  const toAddr = (a: EpAddr): Manifest => ({ ip: a.ip, ...(a.node ? { nodeName: a.node } : {}) });
  return makeEndpointSubsets(
    ns,
    name,
    addrs.length === 0
      ? []
      : [
          {
            addresses: addrs.filter((a) => a.ready !== false).map(toAddr),
            notReadyAddresses: addrs.filter((a) => a.ready === false).map(toAddr),
            ports,
          },
        ],
  );
}

/** Subsets as written in a manifest. */
export function makeEndpointSubsets(ns: string, name: string, subsets: unknown[]): Endpoints {
  return validateEndpoints({ apiVersion: 'v1', kind: 'Endpoints', metadata: { namespace: ns, name }, subsets });
}

export function makePod(ns: string, name: string, ip: string): Pod {
  return validatePod({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name },
    spec: { containers: [{ name: 'c' }] },
    status: { phase: 'Running', podIP: ip },
  });
}

export function snapshotOf(services: Service[], endpoints: Endpoints[] = [], revision = 1, pods: Pod[] = []): ClusterSnapshot {
  const byName = <T extends { metadata: { namespace: string; name: string } }>(list: T[]): Map<string, T> =>
    new Map(list.map((o) => [namespacedName(o.metadata.namespace, o.metadata.name), o]));
  return { revision, services: byName(services), endpoints: byName(endpoints), pods: byName(pods) };
}
