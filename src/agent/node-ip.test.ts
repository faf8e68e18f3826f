import { describe, expect, it } from 'vitest';
import { validateNode } from '../api/node.js';
import { chooseNodeIp, nodeIpOf, parseNodeIps } from './node-ip.js';

const node = (addresses: { type: string; address: string }[]) =>
  validateNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' }, status: { addresses } });
const detect = () => ({ iface: 'eth0', ip: '172.30.0.9' });

describe('chooseNodeIp', () => {
  it('takes --node-ip, then --public-ip, over the Node object', () => {
    const n = node([{ type: 'InternalIP', address: '172.30.0.1' }]);
    expect(chooseNodeIp({ nodeIp: '172.30.0.5', publicIp: '172.30.0.6', node: n }, detect)).toEqual({
      ips: ['172.30.0.5'],
      iface: undefined,
      from: '--node-ip',
    });
    expect(chooseNodeIp({ publicIp: '172.30.0.6', node: n }, detect).from).toBe('--public-ip');
  });

  it("takes the Node's first InternalIP, then its ExternalIP, as kube-proxy does", () => {
    const n = node([
      { type: 'Hostname', address: 'node-1' },
      { type: 'ExternalIP', address: '198.51.100.7' },
      { type: 'InternalIP', address: '172.30.0.1' },
      { type: 'InternalIP', address: '172.30.0.2' },
    ]);
    expect(chooseNodeIp({ node: n }, detect)).toEqual({ ips: ['172.30.0.1'], iface: undefined, from: 'Node node-1 InternalIP' });
    expect(chooseNodeIp({ node: node([{ type: 'ExternalIP', address: '198.51.100.7' }]) }, detect).from).toBe('Node node-1 ExternalIP');
  });

  it('falls back to the interface address without a Node or without addresses on it', () => {
    expect(chooseNodeIp({}, detect)).toEqual({ ips: ['172.30.0.9'], iface: 'eth0', from: 'interface eth0' });
    expect(chooseNodeIp({ node: node([{ type: 'Hostname', address: 'node-1' }]) }, detect).from).toBe('interface eth0');
  });

  it("takes one IP per family, as kubelet's --node-ip and its GetNodeHostIPs do", () => {
    expect(chooseNodeIp({ nodeIp: '172.30.0.2,fd00:172:30::2' }, detect).ips).toEqual(['172.30.0.2', 'fd00:172:30::2']);
    expect(chooseNodeIp({ nodeIp: ' fd00:172:30:0::2 , 172.30.0.2' }, detect).ips).toEqual(['fd00:172:30::2', '172.30.0.2']);
    const n = node([
      { type: 'InternalIP', address: 'fd00:172:30::1' },
      { type: 'ExternalIP', address: '198.51.100.7' },
      { type: 'InternalIP', address: 'fd00:172:30::9' },
    ]);
    expect(chooseNodeIp({ node: n }, detect).ips).toEqual(['fd00:172:30::1', '198.51.100.7']);
    expect(nodeIpOf(['172.30.0.2', 'fd00:172:30::2'], 6)).toBe('fd00:172:30::2');
    expect(nodeIpOf(['172.30.0.2'], 6)).toBeUndefined();
  });

  it('refuses a --node-ip that is not one IP or a pair of two families', () => {
    expect(() => parseNodeIps('172.30.0.2,172.30.0.3')).toThrow(
      '--node-ip: "172.30.0.2,172.30.0.3" must be a single IP or a dual-stack pair (one IPv4, one IPv6)',
    );
    expect(() => parseNodeIps('172.30.0.2,fd00::2,fd00::3')).toThrow('must be a single IP or a dual-stack pair');
    expect(() => parseNodeIps('172.30.0.2,node-2')).toThrow(
      '--node-ip: "172.30.0.2,node-2" is not an IP address or a comma-separated pair',
    );
  });
});
