import type { ClusterSnapshot } from '../../api/cluster-state.js';
import { parseCidr, type Cidr } from '../../api/ip.js';
import { makeEndpointSubsets, makePod, makeService, snapshotOf } from '../../api/testing/object-builders.js';
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

export function fixtureSnapshot(): ClusterSnapshot {
  const dbSubsets = [
    {
      addresses: [{ ip: '10.244.1.5', hostname: 'db-0' }, { ip: '10.244.2.6' }],
      notReadyAddresses: [{ ip: '10.244.3.7' }],
      ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
    },
  ];
  return snapshotOf(
    [
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
    [makeEndpointSubsets('default', 'db', dbSubsets), makeEndpointSubsets('default', 'db-all', dbSubsets)],
    42,
    [makePod('default', 'web-1', '10.244.1.5'), makePod('default', 'web-2', '10.244.2.6')],
  );
}
