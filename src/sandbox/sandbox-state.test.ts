import { describe, expect, it } from 'vitest';
import { checkEtcdMembers, clusterNetworks, etcdClientUrls, planSandbox, quorum, sandboxEtcdConnection } from './sandbox-state.js';

const plan = {
  id: 'ab12',
  runDir: '/run/k',
  nodes: 3,
  proxyMode: 'iptables',
  backend: 'vxlan',
  etcdMembers: 1,
  etcdTls: false,
  ipFamily: 'ipv4' as const,
};

describe('planSandbox ip families', () => {
  it('keeps IPv4 alone by default, and writes no ipFamily for it (as sandboxes before --ip-family)', () => {
    const s = planSandbox(plan);
    expect(s.ipFamily).toBeUndefined();
    expect(s.nodes[1]).toEqual({ name: 'node-2', netns: 'ksab12-n2', ip: '172.30.0.2' });
    expect(clusterNetworks(s)).toEqual({ podNetwork: '10.244.0.0/16', serviceRange: '10.96.0.0/12', dnsIp: '10.96.0.10' });
  });

  it('gives dual-stack nodes and the client a ULA beside IPv4, with the same host digits; etcd stays IPv4', () => {
    const s = planSandbox({ ...plan, ipFamily: 'dual' });
    expect(s.nodes[1]).toEqual({ name: 'node-2', netns: 'ksab12-n2', ip: '172.30.0.2', ipv6: 'fd00:172:30::2' });
    expect(s.client).toEqual({ netns: 'ksab12-client', ip: '172.30.0.253', ipv6: 'fd00:172:30::253' });
    expect(etcdClientUrls(s)).toEqual(['http://172.30.0.254:2379']);
    expect(clusterNetworks(s)).toEqual({
      podNetwork: '10.244.0.0/16,fd00:10:244::/56',
      serviceRange: '10.96.0.0/12,fd00:10:96::/112',
      dnsIp: '10.96.0.10',
    });
  });

  it('puts an IPv6-only sandbox, etcd included, on the ULA alone', () => {
    const s = planSandbox({ ...plan, ipFamily: 'ipv6' });
    expect(s.nodes[0]).toEqual({ name: 'node-1', netns: 'ksab12-n1', ip: 'fd00:172:30::1' });
    expect(etcdClientUrls(s)).toEqual(['http://[fd00:172:30::254]:2379']);
    expect(clusterNetworks(s).dnsIp).toBe('fd00:10:96::a');
  });

  it('refuses the udp backend beside IPv6, as flannel has no IPv6 udp backend', () => {
    expect(() => planSandbox({ ...plan, backend: 'udp', ipFamily: 'dual' })).toThrow(
      "--ip-family: dual needs the vxlan or host-gw backend (flannel's udp backend is IPv4-only)",
    );
  });
});

describe('planSandbox etcd members', () => {
  it('keeps one plain member at .254 named etcd by default', () => {
    const s = planSandbox(plan);
    expect(s.etcd).toEqual({ tls: false, members: [{ name: 'etcd', netns: 'ksab12-etcd', ip: '172.30.0.254' }] });
    expect(sandboxEtcdConnection(s)).toEqual({ endpoints: ['unix:///run/k/etcd.sock:0'] });
  });

  it('places five members from .254 down, around the client at .253, and connects to all with the client certificate', () => {
    const s = planSandbox({ ...plan, etcdMembers: 5, etcdTls: true });
    expect(s.etcd.members.map((m) => `${m.name}=${m.ip}`)).toEqual([
      'etcd-1=172.30.0.254',
      'etcd-2=172.30.0.252',
      'etcd-3=172.30.0.251',
      'etcd-4=172.30.0.250',
      'etcd-5=172.30.0.249',
    ]);
    expect(s.etcd.members.map((m) => m.ip)).not.toContain(s.client.ip);
    expect(sandboxEtcdConnection(s)).toEqual({
      endpoints: [1, 2, 3, 4, 5].map((i) => `unix:///run/k/etcd-${i}.sock:0`),
      cafile: '/run/k/pki/ca.pem',
      certfile: '/run/k/pki/client.pem',
      keyfile: '/run/k/pki/client-key.pem',
    });
  });

  it('refuses 2 and 4 members saying why, and other sizes', () => {
    expect(() => checkEtcdMembers(2)).toThrow(
      '--etcd-members: 2 members tolerate no failure (quorum is 2, so either one stopping stops the cluster); use 1, 3 or 5',
    );
    expect(() => checkEtcdMembers(4)).toThrow(/^--etcd-members: 4 members tolerate one failure, as 3 do \(quorum is 3\)/);
    expect(() => planSandbox({ ...plan, etcdMembers: 6 })).toThrow('--etcd-members: 6 must be 1, 3 or 5');
    for (const n of [1, 3, 5]) expect(() => checkEtcdMembers(n)).not.toThrow();
  });

  it('counts a majority as the quorum', () => {
    expect([1, 3, 5].map(quorum)).toEqual([1, 2, 3]);
  });
});
