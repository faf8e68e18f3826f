/**
 * Address plan: node "node-a" (172.30.0.1); pods 10.244.0.0/16 (10.244.1.x on
 * node-a, 10.244.2.x on node-b); services 10.96.3.0/24; NodePorts 30100-30199;
 * external and LB addresses 172.30.0.100-200.
 */
import { describe, expect, it } from 'vitest';
import { compileRules, type NodeConfig, type RuleSet } from './compile.js';
import { makeEndpoints, makeService, snapshotOf, type EpAddr, type Manifest } from '../api/testing/object-builders.js';
import { fixtureNode as node } from './testing/fixture-node.js';

const REMOTE: EpAddr = { ip: '10.244.2.7', node: 'node-b' };
const LOCAL: EpAddr = { ip: '10.244.1.7', node: 'node-a' };

function compileOne(spec: (s: Manifest, raw: Manifest) => void, eps: EpAddr[] = [REMOTE, LOCAL], n: NodeConfig = node): RuleSet {
  const svc = makeService('ns', 's', spec);
  return compileRules(snapshotOf([svc], [makeEndpoints('ns', 's', eps, [{ name: 'p', port: 80 }])]), n);
}

const chain = (rules: RuleSet, table: 'nat' | 'filter', name: string): readonly string[] | undefined =>
  rules[table].chains.find((c) => c.name === name)?.rules;
const chainStarting = (rules: RuleSet, prefix: string): { name: string; rules: readonly string[] } | undefined =>
  rules.nat.chains.find((c) => c.name.startsWith(prefix));
/** What a service added to keel's fixed chains and which service chains it made, by prefix. */
function shape(rules: RuleSet): Record<string, readonly string[]> {
  const own = (table: 'nat' | 'filter', name: string) => chain(rules, table, name)?.filter((r) => r.includes('ns/s')) ?? [];
  return {
    natServices: own('nat', 'KUBE-SERVICES'),
    natNodePorts: own('nat', 'KUBE-NODEPORTS'),
    filterServices: own('filter', 'KUBE-SERVICES'),
    filterExternal: own('filter', 'KUBE-EXTERNAL-SERVICES'),
    filterFirewall: own('filter', 'KUBE-PROXY-FIREWALL'),
    chains: [...new Set(rules.nat.chains.flatMap((c) => /^KUBE-(SVC|SVL|EXT|FW|SEP)-/.exec(c.name)?.[1] ?? []))].sort(),
  };
}
const clusterIPv4 = (s: Record<string, unknown>): void => {
  s.clusterIP = '10.96.3.1';
  s.ports = [{ name: 'p', port: 80 }];
};

describe('compileService, by service shape', () => {
  it('writes no IPv4 rule for a headless, an ExternalName or an IPv6-only service, even one with ports', () => {
    const empty = { natServices: [], natNodePorts: [], filterServices: [], filterExternal: [], filterFirewall: [], chains: [] };
    expect(shape(compileOne((s) => ((s.clusterIP = 'None'), (s.ports = [{ name: 'p', port: 80 }]))))).toEqual(empty);
    expect(
      shape(compileOne((s) => ((s.type = 'ExternalName'), (s.externalName = 'example.com'), (s.ports = [{ name: 'p', port: 80 }])))),
    ).toEqual(empty);
    const v6 = compileOne((s) => {
      s.clusterIP = 'fd00:10:96::31';
      s.ipFamilies = ['IPv6'];
      s.ports = [{ name: 'p', port: 80 }];
    });
    expect(shape(v6)).toEqual(empty);
    expect(v6.ports).toEqual([]);
  });

  it('leaves the IPv6 external addresses of a service out of the IPv4 rules', () => {
    const rules = compileOne((s) => {
      clusterIPv4(s);
      s.externalIPs = ['172.30.0.101', 'fd00:172:30::101'];
    });
    expect(shape(rules).natServices).toEqual([
      expect.stringMatching(/^-d 10\.96\.3\.1\/32 .*-j KUBE-SVC-/),
      expect.stringMatching(/^-d 172\.30\.0\.101\/32 .*"ns\/s:p external IP" -m tcp --dport 80 -j KUBE-EXT-/),
    ]);
    expect(rules.ports.map((p) => p.externalIPs)).toEqual([['172.30.0.101']]);
  });

  it('makes a ClusterIP service with an externalIP external: outside traffic is masqueraded, then balanced over every endpoint', () => {
    const rules = compileOne((s) => {
      clusterIPv4(s);
      s.externalIPs = ['172.30.0.101'];
    });
    const ext = chainStarting(rules, 'KUBE-EXT-');
    const svc = chainStarting(rules, 'KUBE-SVC-');
    expect(ext?.rules).toEqual([
      '-m comment --comment "masquerade traffic for ns/s:p external destinations" -j KUBE-MARK-MASQ',
      `-j ${svc?.name}`,
    ]);
    expect(shape(rules).chains).toEqual(['EXT', 'SEP', 'SVC']);
  });

  it('reports each service port with its addresses and endpoints, for conntrack cleanup of UDP flows', () => {
    const svc = makeService('ns', 's', (s) => {
      s.type = 'NodePort';
      s.clusterIP = '10.96.3.1';
      s.externalIPs = ['172.30.0.101'];
      s.ports = [{ name: 'p', port: 53, protocol: 'UDP', nodePort: 30153 }];
    });
    const eps = makeEndpoints('ns', 's', [REMOTE, LOCAL], [{ name: 'p', port: 5353, protocol: 'UDP' }]);
    const rules = compileRules(snapshotOf([svc], [eps]), node);
    expect(rules.ports).toEqual([
      {
        service: 'ns/s',
        spn: 'ns/s:p',
        protocol: 'UDP',
        clusterIP: '10.96.3.1',
        port: 53,
        nodePort: 30153,
        externalIPs: ['172.30.0.101'],
        endpoints: [expect.objectContaining({ ip: '10.244.1.7', port: 5353 }), expect.objectContaining({ ip: '10.244.2.7', port: 5353 })],
      },
    ]);
  });
});

describe('compileService without endpoints', () => {
  it('rejects at the cluster IP, every external and LB address and the NodePort, and programs no chain', () => {
    const rules = compileOne((s, raw) => {
      s.type = 'LoadBalancer';
      s.clusterIP = '10.96.3.1';
      s.externalIPs = ['172.30.0.101'];
      s.ports = [{ name: 'p', port: 80, nodePort: 30180 }];
      raw.status = { loadBalancer: { ingress: [{ ip: '172.30.0.200' }] } };
    }, []);
    const why = '-m comment --comment "ns/s:p has no endpoints"';
    const reject = '-j REJECT --reject-with icmp-port-unreachable';
    expect(shape(rules)).toEqual({
      natServices: [],
      natNodePorts: [],
      filterServices: [`-d 10.96.3.1/32 -p tcp ${why} -m tcp --dport 80 ${reject}`],
      filterExternal: [
        `-d 172.30.0.101/32 -p tcp ${why} -m tcp --dport 80 ${reject}`,
        `-d 172.30.0.200/32 -p tcp ${why} -m tcp --dport 80 ${reject}`,
        `-p tcp ${why} -m addrtype --dst-type LOCAL -m tcp --dport 30180 ${reject}`,
      ],
      filterFirewall: [],
      chains: [],
    });
  });

  it('rejects a plain ClusterIP service at its cluster IP only', () => {
    expect(shape(compileOne(clusterIPv4, []))).toMatchObject({
      filterServices: [expect.stringContaining('-d 10.96.3.1/32')],
      filterExternal: [],
    });
  });
});

describe('compileService, traffic policies', () => {
  const masq = '! -s 10.244.0.0/16 -d 10.96.3.1/32 -p tcp -m comment --comment "ns/s:p cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ';

  it('internalTrafficPolicy Local alone: only the local chain, which masquerades clients from off the pod network', () => {
    const rules = compileOne((s) => {
      clusterIPv4(s);
      s.internalTrafficPolicy = 'Local';
    });
    expect(shape(rules).chains).toEqual(['SEP', 'SVL']);
    expect(chainStarting(rules, 'KUBE-SVL-')?.rules).toEqual([masq, expect.stringMatching(/-j KUBE-SEP-/)]);
  });

  it('internalTrafficPolicy Local without a local endpoint: the cluster IP drops, nothing is balanced', () => {
    const rules = compileOne(
      (s) => {
        clusterIPv4(s);
        s.internalTrafficPolicy = 'Local';
      },
      [REMOTE],
    );
    expect(shape(rules)).toMatchObject({
      natServices: [],
      filterServices: ['-d 10.96.3.1/32 -p tcp -m comment --comment "ns/s:p has no local endpoints" -m tcp --dport 80 -j DROP'],
    });
  });

  it('internal Local, external Cluster: in-cluster traffic to the local chain, NodePort traffic through EXT to every endpoint', () => {
    const rules = compileOne((s) => {
      s.type = 'NodePort';
      s.clusterIP = '10.96.3.1';
      s.internalTrafficPolicy = 'Local';
      s.ports = [{ name: 'p', port: 80, nodePort: 30180 }];
    });
    const svc = chainStarting(rules, 'KUBE-SVC-');
    const svl = chainStarting(rules, 'KUBE-SVL-');
    expect(shape(rules).chains).toEqual(['EXT', 'SEP', 'SVC', 'SVL']);
    expect(shape(rules).natServices).toEqual([expect.stringContaining(`-j ${svl?.name}`)]);
    expect(chainStarting(rules, 'KUBE-EXT-')?.rules.at(-1)).toBe(`-j ${svc?.name}`);
    expect(svc?.rules.filter((r) => r.includes('-j KUBE-SEP-'))).toHaveLength(2);
    expect(svl?.rules.filter((r) => r.includes('-j KUBE-SEP-'))).toHaveLength(1);
  });

  it('externalTrafficPolicy Local: pods and the node itself may use any endpoint (the node masqueraded), the rest only local ones', () => {
    const rules = compileOne((s) => {
      s.type = 'NodePort';
      s.clusterIP = '10.96.3.1';
      s.externalTrafficPolicy = 'Local';
      s.ports = [{ name: 'p', port: 80, nodePort: 30180 }];
    });
    const svc = chainStarting(rules, 'KUBE-SVC-')?.name;
    const svl = chainStarting(rules, 'KUBE-SVL-')?.name;
    const why = 'ns/s:p external destinations';
    expect(chainStarting(rules, 'KUBE-EXT-')?.rules).toEqual([
      `-s 10.244.0.0/16 -m comment --comment "pod traffic for ${why}" -j ${svc}`,
      `-m comment --comment "masquerade LOCAL traffic for ${why}" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
      `-m comment --comment "route LOCAL traffic for ${why}" -m addrtype --src-type LOCAL -j ${svc}`,
      `-j ${svl}`,
    ]);
    // The cluster chain masquerades; the local one keeps the client address (internal policy is Cluster).
    expect(chainStarting(rules, 'KUBE-SVC-')?.rules[0]).toBe(masq);
    expect(chainStarting(rules, 'KUBE-SVL-')?.rules).toEqual([expect.stringMatching(/-j KUBE-SEP-/)]);
  });

  it('externalTrafficPolicy Local without a local endpoint: drops at the NodePort and the external and LB addresses, the cluster IP still answers', () => {
    const rules = compileOne(
      (s, raw) => {
        s.type = 'LoadBalancer';
        s.clusterIP = '10.96.3.1';
        s.externalTrafficPolicy = 'Local';
        s.externalIPs = ['172.30.0.101'];
        s.ports = [{ name: 'p', port: 80, nodePort: 30180 }];
        raw.status = { loadBalancer: { ingress: [{ ip: '172.30.0.200' }] } };
      },
      [REMOTE],
    );
    const why = '-m comment --comment "ns/s:p has no local endpoints"';
    expect(shape(rules).filterExternal).toEqual([
      `-d 172.30.0.101/32 -p tcp ${why} -m tcp --dport 80 -j DROP`,
      `-d 172.30.0.200/32 -p tcp ${why} -m tcp --dport 80 -j DROP`,
      `-p tcp ${why} -m addrtype --dst-type LOCAL -m tcp --dport 30180 -j DROP`,
    ]);
    expect(shape(rules).natServices?.[0]).toMatch(/^-d 10\.96\.3\.1\/32 .*-j KUBE-SVC-/);
  });

  it('externalTrafficPolicy Local on an externalIP-only service without a local endpoint drops there and adds no NodePort rule', () => {
    const rules = compileOne(
      (s) => {
        clusterIPv4(s);
        s.externalTrafficPolicy = 'Local';
        s.externalIPs = ['172.30.0.101'];
      },
      [REMOTE],
    );
    expect(shape(rules).filterExternal).toEqual([
      '-d 172.30.0.101/32 -p tcp -m comment --comment "ns/s:p has no local endpoints" -m tcp --dport 80 -j DROP',
    ]);
  });
});

describe('compileService, load balancer firewall', () => {
  const lb = (ranges: string[], ingress: string[], nodeIPs: string[]): RuleSet =>
    compileOne(
      (s, raw) => {
        s.type = 'LoadBalancer';
        s.clusterIP = '10.96.3.1';
        s.loadBalancerSourceRanges = ranges;
        s.ports = [{ name: 'p', port: 80, nodePort: 30180 }];
        raw.status = { loadBalancer: { ingress: ingress.map((ip) => ({ ip })) } };
      },
      [LOCAL],
      { ...node, nodeIPs },
    );

  it('makes no firewall while the load balancer has no address yet', () => {
    const rules = lb(['172.30.0.0/24'], [], ['172.30.0.1']);
    expect(shape(rules)).toMatchObject({ filterFirewall: [], chains: ['EXT', 'SEP', 'SVC'] });
  });

  it('lets the node in when any one of its addresses is in a source range', () => {
    const fw = (nodeIPs: string[]) => chainStarting(lb(['172.30.0.0/24'], ['172.30.0.200'], nodeIPs), 'KUBE-FW-')?.rules ?? [];
    const fromLb = expect.stringMatching(/^-s 172\.30\.0\.200\/32 /);
    expect(fw(['10.0.9.9', '172.30.0.1'])).toContainEqual(fromLb);
    expect(fw(['10.0.9.9', 'fd00::1'])).not.toContainEqual(fromLb);
  });
});
