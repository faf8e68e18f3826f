import { describe, expect, it } from 'vitest';
import { decodeLease } from '../overlay/lease.js';
import { parseNetworkConfig } from '../overlay/network-config.js';
import { describeNode, type OverlayEntry } from './node-report.js';

// Underlay 172.30.0.0/24, pods 10.244.0.0/16 with /24 node subnets.
const network = parseNetworkConfig('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 1}}');
const lease = (subnet: string, ip: string, mac: string): ReturnType<typeof decodeLease> =>
  decodeLease(
    `/coreos.com/network/subnets/${subnet.replace('/', '-')}`,
    JSON.stringify({ PublicIP: ip, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } }),
  );
const leases = [
  lease('10.244.1.0/24', '172.30.0.1', '0a:00:00:00:00:01'),
  lease('10.244.2.0/24', '172.30.0.2', '0a:00:00:00:00:02'),
  lease('10.244.3.0/24', '172.30.0.3', '0a:00:00:00:00:03'),
];
const inSync: OverlayEntry[] = [
  { kind: 'route', text: '10.244.2.0/24 via 10.244.2.0' },
  { kind: 'fdb', text: '0a:00:00:00:00:02 dst 172.30.0.2' },
  { kind: 'route', text: '10.244.3.0/24 via 10.244.3.0' },
  { kind: 'fdb', text: '0a:00:00:00:00:03 dst 172.30.0.3' },
];
const problems = (text: string): string => text.slice(text.indexOf('\nProblems:\n') + 11);

describe('describeNode', () => {
  it('shows the lease and every wanted route and FDB entry as present', () => {
    const text = describeNode({
      nodeName: 'node-1',
      nodeIp: '172.30.0.1',
      network,
      leases,
      kernel: inSync,
      agent: { state: 'healthy', text: 'ok' },
    });
    expect(text).toContain('Subnet:                   10.244.1.0/24');
    expect(text).toContain('  route 10.244.3.0/24 via 10.244.3.0                 present');
    expect(problems(text)).toBe('  none found\n');
  });

  it("names missing and stale entries with the agent's word", () => {
    const kernel = [...inSync.slice(0, 3), { kind: 'route' as const, text: '10.244.9.0/24 via 10.244.9.0' }];
    const text = describeNode({
      nodeName: 'node-1',
      nodeIp: '172.30.0.1',
      network,
      leases,
      kernel,
      agent: { state: 'unhealthy', text: 'overlay: no successful sync yet' },
    });
    expect(text).toContain('  fdb   0a:00:00:00:00:03 dst 172.30.0.3             MISSING');
    expect(problems(text)).toBe(
      [
        '  - the kernel of node-1 does not hold the overlay entries keel wants (1 missing, 1 not wanted); agent unhealthy: overlay: no successful sync yet',
        '  - the agent on node-1 is unhealthy: overlay: no successful sync yet',
        '',
      ].join('\n'),
    );
  });

  it('says when the node holds no lease or the network was never initialised', () => {
    expect(problems(describeNode({ nodeName: 'node-4', nodeIp: '172.30.0.4', network, leases }))).toBe(
      "  - no subnet lease has PublicIP 172.30.0.4: the node's overlay agent has not acquired one (or its lease expired)\n",
    );
    expect(problems(describeNode({ nodeName: 'node-1', nodeIp: '172.30.0.1', network: undefined, leases: [] }))).toContain(
      'no overlay network config in etcd',
    );
  });
});
