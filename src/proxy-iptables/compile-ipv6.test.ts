/**
 * The IPv6 tables (ip6tables-restore) from the same compiler. Address plan: node "node-a" at
 * fd00:172:30::1 (and 172.30.0.1); pods 10.244.0.0/16 + fd00:10:244::/56 (fd00:10:244:1::/64 on
 * node-a, fd00:10:244:2::/64 on node-b); services 10.96.0.0/12 + fd00:10:96::/112.
 */
import { describe, expect, it } from 'vitest';
import { FakeRunner } from '../kernel/iptables/testing/fake-runner.js';
import { compileRules, DEFAULT_MASQUERADE_BIT, type NodeConfig } from './compile.js';
import { renderRestore } from './render-restore.js';
import { formatTrace, tracePacket } from './trace.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';
import { fixtureNode as v4 } from './testing/fixture-node.js';

const v6: NodeConfig = {
  nodeName: 'node-a',
  family: 6,
  nodeIPs: ['fd00:172:30::1'],
  clusterCidr: 'fd00:10:244::/56',
  masqueradeBit: DEFAULT_MASQUERADE_BIT,
};

function fixture() {
  // Dual-stack NodePort service, IPv6 primary, endpoints of both families.
  const web = makeService('default', 'web', (s) => {
    s.type = 'NodePort';
    s.clusterIPs = ['fd00:10:96::a', '10.96.0.10'];
    s.ipFamilies = ['IPv6', 'IPv4'];
    s.ipFamilyPolicy = 'RequireDualStack';
    s.ports = [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }];
  });
  const webEps = makeEndpoints(
    'default',
    'web',
    [
      { ip: '10.244.1.5', node: 'node-a' },
      { ip: 'fd00:10:244:1::5', node: 'node-a' },
      { ip: 'fd00:10:244:2::7', node: 'node-b' },
    ],
    [{ name: 'http', port: 8080 }],
  );
  // IPv4-only: no IPv6 rules at all.
  const old = makeService('default', 'old', (s) => {
    s.clusterIP = '10.96.0.20';
    s.ports = [{ port: 80 }];
  });
  // IPv6-only, no endpoints: ICMPv6 reject; ClientIP affinity with the /128 mask.
  const empty = makeService('default', 'empty', (s) => {
    s.clusterIP = 'fd00:10:96::20';
    s.ports = [{ port: 443 }];
  });
  const sticky = makeService('default', 'sticky', (s) => {
    s.clusterIP = 'fd00:10:96::30';
    s.ports = [{ port: 80 }];
    s.sessionAffinity = 'ClientIP';
    s.sessionAffinityConfig = { clientIP: { timeoutSeconds: 600 } };
  });
  const stickyEps = makeEndpoints('default', 'sticky', [{ ip: 'fd00:10:244:2::6', node: 'node-b' }], [{ port: 80 }]);
  return snapshotOf([web, old, empty, sticky], [webEps, stickyEps]);
}

describe('compileRules for IPv6', () => {
  it('matches the golden ip6tables ruleset', async () => {
    await expect(renderRestore(compileRules(fixture(), v6))).toMatchFileSnapshot('testdata/ipv6.golden');
  });

  it('holds only IPv6 addresses, /128 hosts and ICMPv6 rejects, and no localnet guard', () => {
    const text = renderRestore(compileRules(fixture(), v6));
    expect(text).not.toMatch(/\b10\.\d+\.\d+\.\d+/);
    expect(text).toContain('-A KUBE-SERVICES -d fd00:10:96::a/128 -p tcp -m comment --comment "default/web:http cluster IP"');
    expect(text).toContain('-j DNAT --to-destination [fd00:10:244:1::5]:8080');
    expect(text).toContain('--reject-with icmp6-port-unreachable');
    expect(text).toContain('--mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource');
    expect(text).toContain('! -s fd00:10:244::/56 -d fd00:10:96::a/128');
    expect(text).not.toContain('127.0.0.0/8');
  });

  it('gives the IPv4 tables the same dual-stack service by its IPv4 secondary, with its IPv4 endpoint only', () => {
    const text = renderRestore(compileRules(fixture(), v4));
    expect(text).toContain('-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP"');
    expect(text).toContain('-j DNAT --to-destination 10.244.1.5:8080');
    expect(text).not.toContain('fd00:');
  });

  it('loads into a checking fake ip6tables, and a traced IPv6 packet reaches both IPv6 endpoints', async () => {
    const text = renderRestore(compileRules(fixture(), v6));
    await new FakeRunner().restore(text);
    const out = formatTrace(
      tracePacket(text, { src: 'fd00:10:244:1::9', dst: 'fd00:10:96::a', dport: 80, protocol: 'tcp', from: 'pod' }, ['fd00:172:30::1']),
      false,
    );
    expect(out).toContain('DNAT [fd00:10:244:1::5]:8080 p=0.500');
    expect(out).toContain('DNAT [fd00:10:244:2::7]:8080 p=0.500');
  });
});
