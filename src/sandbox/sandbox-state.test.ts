import { describe, expect, it } from 'vitest';
import { checkEtcdMembers, planSandbox, quorum, sandboxEtcdConnection } from './sandbox-state.js';

const plan = { id: 'ab12', runDir: '/run/k', nodes: 3, proxyMode: 'iptables', backend: 'vxlan', etcdMembers: 1, etcdTls: false };

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
