import type { ClusterSnapshot } from '../../api/cluster-state.js';
import { makeEndpoints, makeService, snapshotOf } from '../../api/testing/object-builders.js';
import { emptyAndSticky } from '../../proxy-iptables/testing/fixture-node.js';

/**
 * One cluster exercising every part of the nftables layout, for the unit
 * tests, compiled for proxy-iptables' fixtureNode (and sharing its
 * emptyAndSticky services). Address plan: that node's (node-a 172.30.0.1, pods
 * 10.244.0.0/16, services 10.96.0.0/12); external IPs and LB IPs
 * 203.0.113.0/24 (documentation range, never routed here).
 */
export function nftFixture(): ClusterSnapshot {
  const web = makeService('default', 'web', (s) => {
    s.type = 'NodePort';
    s.clusterIP = '10.96.0.10';
    s.externalIPs = ['203.0.113.10'];
    s.ports = [
      { name: 'http', port: 80, targetPort: 'http', nodePort: 30080 },
      { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP', nodePort: 30053 },
    ];
  });
  const webEps = makeEndpoints(
    'default',
    'web',
    [
      { ip: '10.244.2.7', node: 'node-b' },
      { ip: '10.244.1.5', node: 'node-a' },
    ],
    [
      { name: 'http', port: 8080 },
      { name: 'dns', port: 5353, protocol: 'UDP' },
    ],
  );
  const shared = emptyAndSticky();
  const lb = makeService('default', 'lb', (s, raw) => {
    s.type = 'LoadBalancer';
    s.clusterIP = '10.96.0.40';
    s.externalTrafficPolicy = 'Local';
    s.loadBalancerSourceRanges = ['198.51.100.0/24', '172.30.0.0/24'];
    s.ports = [{ port: 443, targetPort: 8443, nodePort: 30443 }];
    raw.status = { loadBalancer: { ingress: [{ ip: '203.0.113.40' }] } };
  });
  const lbEps = makeEndpoints(
    'default',
    'lb',
    [
      { ip: '10.244.1.40', node: 'node-a' },
      { ip: '10.244.2.40', node: 'node-b' },
    ],
    [{ port: 8443 }],
  );
  const internal = makeService('default', 'internal', (s) => {
    s.clusterIP = '10.96.0.50';
    s.internalTrafficPolicy = 'Local';
    s.ports = [{ port: 80 }];
  });
  const internalEps = makeEndpoints('default', 'internal', [{ ip: '10.244.2.50', node: 'node-b' }], [{ port: 80 }]);
  return snapshotOf([web, lb, internal, ...shared.services], [webEps, lbEps, internalEps, ...shared.endpoints]);
}
