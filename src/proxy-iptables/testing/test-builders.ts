import type { ClusterSnapshot } from '../../api/cluster-state.js';
import { validateEndpoints, type Endpoints } from '../../api/endpoints.js';
import { validateService, type Service } from '../../api/service.js';

/**
 * Builders for proxy tests, in the style of kube-proxy's makeTestService:
 * a minimal valid object plus a mutator over the raw manifest, validated
 * like any object read from etcd so defaults are filled the same way.
 */
type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function makeService(ns: string, name: string, mutate: (spec: Raw, raw: Raw) => void): Service {
  const raw: Raw = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec: { ports: [] } };
  mutate(raw.spec as Raw, raw);
  return validateService(raw, { mode: 'stored' });
}

export interface EpAddr {
  ip: string;
  node?: string;
  ready?: boolean;
}

export function makeEndpoints(
  ns: string,
  name: string,
  addrs: EpAddr[],
  ports: { name?: string; port: number; protocol?: string }[],
): Endpoints {
  const toAddr = (a: EpAddr): Raw => ({ ip: a.ip, ...(a.node ? { nodeName: a.node } : {}) });
  return validateEndpoints({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace: ns, name },
    subsets:
      addrs.length === 0
        ? []
        : [
            {
              addresses: addrs.filter((a) => a.ready !== false).map(toAddr),
              notReadyAddresses: addrs.filter((a) => a.ready === false).map(toAddr),
              ports,
            },
          ],
  });
}

export function snapshotOf(services: Service[], endpoints: Endpoints[], revision = 1): ClusterSnapshot {
  const key = (o: { metadata: { namespace: string; name: string } }): string => `${o.metadata.namespace}/${o.metadata.name}`;
  return {
    revision,
    services: new Map(services.map((s) => [key(s), s])),
    endpoints: new Map(endpoints.map((e) => [key(e), e])),
    pods: new Map(),
  };
}
