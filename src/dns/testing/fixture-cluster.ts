import { namespacedName, type ClusterSnapshot } from '../../api/cluster-state.js';
import { validateEndpoints, type Endpoints } from '../../api/endpoints.js';
import { parseCidr, type Cidr } from '../../api/ip.js';
import { validatePod, type Pod } from '../../api/pod.js';
import { validateService, type Service } from '../../api/service.js';
import type { DnsConfig } from '../records.js';

/*
 * The cluster the DNS tests (unit, server, e2e, bench) answer from.
 * Address plan: services 10.96.0.0/12 and fd00:10:96::/112, pods 10.244.0.0/16.
 *   default/web        ClusterIP 10.96.0.20, ports http 80/TCP, syslog 514/UDP
 *   default/db         headless; ready 10.244.1.5 (hostname db-0), 10.244.2.6; not ready 10.244.3.7; port pg 5432
 *   default/db-all     headless like db, publishNotReadyAddresses
 *   default/empty      headless without endpoints
 *   default/pending    ClusterIP not yet allocated
 *   default/ext        ExternalName example.com; default/alias → web.default.svc.cluster.local
 *   kube-system/kube-dns  10.96.0.10, ports dns 53/UDP, dns-tcp 53/TCP
 *   dual/web6          10.96.0.30 + fd00:10:96::30, port http 80
 *   pods default/web-1 10.244.1.5, default/web-2 10.244.2.6
 */
export function fixtureConfig(): DnsConfig {
  const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
  // Pod records as before `--pod-records` existed (only real pods answer); the other modes have their own tests.
  return {
    zone: 'cluster.local',
    ttl: 5,
    serviceCidrs: [cidr('10.96.0.0/12'), cidr('fd00:10:96::/112')],
    podCidrs: [cidr('10.244.0.0/16')],
    podRecords: 'verified',
  };
}

export function makeService(ns: string, name: string, spec: Record<string, unknown>): Service {
  return validateService({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec });
}

export function makeEndpoints(ns: string, name: string, subsets: unknown[]): Endpoints {
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

export function snapshotOf(objects: { services?: Service[]; endpoints?: Endpoints[]; pods?: Pod[] }, revision = 42): ClusterSnapshot {
  const byName = <T extends { metadata: { namespace: string; name: string } }>(list: T[] = []): Map<string, T> =>
    new Map(list.map((o) => [namespacedName(o.metadata.namespace, o.metadata.name), o]));
  return { revision, services: byName(objects.services), endpoints: byName(objects.endpoints), pods: byName(objects.pods) };
}

export function fixtureSnapshot(): ClusterSnapshot {
  const dbSubsets = [
    {
      addresses: [{ ip: '10.244.1.5', hostname: 'db-0' }, { ip: '10.244.2.6' }],
      notReadyAddresses: [{ ip: '10.244.3.7' }],
      ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
    },
  ];
  return snapshotOf({
    services: [
      makeService('default', 'web', {
        clusterIP: '10.96.0.20',
        ports: [
          { name: 'http', port: 80 },
          { name: 'syslog', port: 514, protocol: 'UDP' },
        ],
      }),
      makeService('default', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }),
      makeService('default', 'db-all', { clusterIP: 'None', publishNotReadyAddresses: true, ports: [{ name: 'pg', port: 5432 }] }),
      makeService('default', 'empty', { clusterIP: 'None' }),
      makeService('default', 'pending', { ports: [{ port: 80 }] }),
      makeService('default', 'ext', { type: 'ExternalName', externalName: 'example.com' }),
      makeService('default', 'alias', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local.' }),
      makeService('kube-system', 'kube-dns', {
        clusterIP: '10.96.0.10',
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53 },
        ],
      }),
      makeService('dual', 'web6', { clusterIPs: ['10.96.0.30', 'fd00:10:96::30'], ports: [{ name: 'http', port: 80 }] }),
    ],
    endpoints: [makeEndpoints('default', 'db', dbSubsets), makeEndpoints('default', 'db-all', dbSubsets)],
    pods: [makePod('default', 'web-1', '10.244.1.5'), makePod('default', 'web-2', '10.244.2.6')],
  });
}
