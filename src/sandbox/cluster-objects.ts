import type { Endpoints } from '../api/endpoints.js';
import type { Service } from '../api/service.js';
import { clusterNetworks, type SandboxState } from './sandbox-state.js';

/**
 * The kube-dns Service the pods' resolv.conf points at. It has no
 * selector: its Endpoints are the DNS servers the agents run on every
 * node's underlay address (`--dns-listen <node-ip>:53`), written here.
 */
export function kubeDnsObjects(state: SandboxState): [Service, Endpoints] {
  const dnsIp = clusterNetworks(state).dnsIp;
  const metadata = { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };
  const service: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec: {
      type: 'ClusterIP',
      clusterIP: dnsIp,
      clusterIPs: [dnsIp],
      ports: [
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
        { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
      ],
      sessionAffinity: 'None',
    },
  };
  const endpoints: Endpoints = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata,
    subsets: [
      {
        addresses: state.nodes.map((n) => ({ ip: n.ip, nodeName: n.name })),
        notReadyAddresses: [],
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      },
    ],
  };
  return [service, endpoints];
}
