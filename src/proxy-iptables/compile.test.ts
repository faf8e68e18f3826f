/**
 * Address plan: testing/fixture-node.ts's (node "node-a"; pods 10.244.0.0/16, 10.244.1.x on node-a,
 * 10.244.2.x on node-b; services 10.96.0.0/12); NodePorts 30000-30099.
 */
import { describe, expect, it } from 'vitest';
import { FakeRunner } from '../kernel/iptables/testing/fake-runner.js';
import { tablesOf } from '../kernel/iptables/parse-restore.js';
import { projectService } from '../service-view/project-service.js';
import type { ServiceView } from '../service-view/service-view.js';
import { compileRules, type NodeConfig } from './compile.js';
import { compileService } from './compile-service.js';
import { renderRestore } from './render-restore.js';
import { probability } from './rule-text.js';
import { emptyAndSticky, fixtureNode as node } from './testing/fixture-node.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';

function fixture() {
  const web = makeService('default', 'web', (s) => {
    s.type = 'NodePort';
    s.clusterIP = '10.96.0.10';
    s.ports = [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }];
  });
  const webEps = makeEndpoints(
    'default',
    'web',
    [
      { ip: '10.244.2.7', node: 'node-b' },
      { ip: '10.244.1.5', node: 'node-a' },
    ],
    [{ name: 'http', port: 8080 }],
  );
  const dns = makeService('kube-system', 'dns', (s) => {
    s.clusterIP = '10.96.0.53';
    s.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }];
  });
  const dnsEps = makeEndpoints('kube-system', 'dns', [{ ip: '10.244.1.53', node: 'node-a' }], [{ name: 'dns', port: 53, protocol: 'UDP' }]);
  const shared = emptyAndSticky();
  const local = makeService('default', 'local', (s) => {
    s.type = 'NodePort';
    s.clusterIP = '10.96.0.40';
    s.externalTrafficPolicy = 'Local';
    s.externalIPs = ['172.30.0.100'];
    s.ports = [{ port: 80, nodePort: 30040 }];
  });
  const localEps = makeEndpoints(
    'default',
    'local',
    [
      { ip: '10.244.1.8', node: 'node-a' },
      { ip: '10.244.2.8', node: 'node-b' },
    ],
    [{ port: 80 }],
  );
  // A firewalled LoadBalancer with a health check node port, reachable from the node itself.
  const fenced = makeService('default', 'fenced', (s, raw) => {
    s.type = 'LoadBalancer';
    s.clusterIP = '10.96.0.50';
    s.externalTrafficPolicy = 'Local';
    s.healthCheckNodePort = 30050;
    s.loadBalancerSourceRanges = ['172.30.0.0/24'];
    s.ports = [{ port: 443, nodePort: 30443 }];
    raw.status = { loadBalancer: { ingress: [{ ip: '172.30.0.150' }] } };
  });
  const fencedEps = makeEndpoints('default', 'fenced', [{ ip: '10.244.1.50', node: 'node-a' }], [{ port: 443 }]);
  return snapshotOf([web, dns, local, fenced, ...shared.services], [webEps, dnsEps, localEps, fencedEps, ...shared.endpoints]);
}

describe('compileRules', () => {
  it('matches the golden ruleset', async () => {
    await expect(renderRestore(compileRules(fixture(), node))).toMatchFileSnapshot('testdata/basic.golden');
  });

  it('is byte-stable whatever the insertion order', () => {
    const snap = fixture();
    const reversed = { ...snap, services: new Map([...snap.services].reverse()), endpoints: new Map([...snap.endpoints].reverse()) };
    expect(renderRestore(compileRules(reversed, node))).toBe(renderRestore(compileRules(snap, node)));
  });

  it('loads into a verifying fake (no jump to a missing chain)', async () => {
    const fake = new FakeRunner();
    await fake.restore(renderRestore(compileRules(fixture(), node)), { noflush: true });
    expect(fake.chainNames('nat')).toContain('KUBE-SVC-CDGGSHYLG3RE2FKL');
  });

  it('spreads with 1/n, 1/(n-1), …, the last rule unconditional, for 1..10 endpoints', () => {
    for (let n = 1; n <= 10; n++) {
      const svc = makeService('ns', 'svc', (s) => {
        s.clusterIP = '10.96.1.1';
        s.ports = [{ port: 80 }];
      });
      const eps = makeEndpoints(
        'ns',
        'svc',
        Array.from({ length: n }, (_, i) => ({ ip: `10.244.3.${i + 1}` })),
        [{ port: 80 }],
      );
      const rules = compileRules(snapshotOf([svc], [eps]), node);
      const svcChain = rules.nat.chains.find((c) => c.name.startsWith('KUBE-SVC-'));
      const probs = svcChain?.rules.filter((r) => r.includes('-j KUBE-SEP-')).map((r) => /--probability (\S+)/.exec(r)?.[1] ?? 'last');
      const want = Array.from({ length: n }, (_, i) => (i === n - 1 ? 'last' : probability(n - i)));
      expect(probs).toEqual(want);
      if (n === 2) expect(want[0]).toBe('0.50000000000');
      if (n === 3) expect(want[0]).toBe('0.33333333349');
    }
  });

  it('resolves a named targetPort per endpoint', () => {
    const svc = makeService('ns', 'named', (s) => {
      s.clusterIP = '10.96.1.2';
      s.ports = [
        { name: 'web', port: 80, targetPort: 'http' },
        { name: 'metrics', port: 9090 },
      ];
    });
    const eps = makeEndpoints(
      'ns',
      'named',
      [{ ip: '10.244.3.1' }],
      [
        { name: 'web', port: 8080 },
        { name: 'metrics', port: 9100 },
      ],
    );
    const text = renderRestore(compileRules(snapshotOf([svc], [eps]), node));
    expect(text).toMatch(/-m comment --comment "ns\/named:web" -m tcp -j DNAT --to-destination 10\.244\.3\.1:8080/);
    expect(text).toMatch(/-m comment --comment "ns\/named:metrics" -m tcp -j DNAT --to-destination 10\.244\.3\.1:9100/);
  });

  it('excludes not-ready endpoints unless publishNotReadyAddresses', () => {
    const build = (pna: boolean) => {
      const svc = makeService('ns', 'nr', (s) => {
        s.clusterIP = '10.96.1.3';
        s.ports = [{ port: 80 }];
        if (pna) s.publishNotReadyAddresses = true;
      });
      const eps = makeEndpoints('ns', 'nr', [{ ip: '10.244.3.1', ready: false }], [{ port: 80 }]);
      return renderRestore(compileRules(snapshotOf([svc], [eps]), node));
    };
    expect(build(false)).toContain('"ns/nr has no endpoints" -m tcp --dport 80 -j REJECT');
    expect(build(true)).toContain('--to-destination 10.244.3.1:80');
  });

  it('sends internalTrafficPolicy Local to local endpoints only, and drops when there is none', () => {
    const build = (onNode: string) => {
      const svc = makeService('ns', 'itp', (s) => {
        s.clusterIP = '10.96.1.4';
        s.internalTrafficPolicy = 'Local';
        s.ports = [{ port: 80 }];
      });
      const eps = makeEndpoints(
        'ns',
        'itp',
        [
          { ip: '10.244.3.1', node: onNode },
          { ip: '10.244.3.2', node: 'node-z' },
        ],
        [{ port: 80 }],
      );
      return renderRestore(compileRules(snapshotOf([svc], [eps]), node));
    };
    const local = build('node-a');
    expect(local).toMatch(/-A KUBE-SERVICES .*"ns\/itp cluster IP" -m tcp --dport 80 -j KUBE-SVL-/);
    expect(local).toContain('--to-destination 10.244.3.1:80');
    expect(local).not.toContain('--to-destination 10.244.3.2:80');
    expect(build('node-z')).toContain('"ns/itp has no local endpoints" -m tcp --dport 80 -j DROP');
  });

  it('never lets an odd comment break the restore text', () => {
    const svc = makeService('ns', 'odd', (s) => {
      s.clusterIP = '10.96.1.5';
      s.ports = [{ port: 80 }];
    });
    (svc.metadata as { name: string }).name = 'odd"\n-A INPUT -j DROP\\';
    const tables = tablesOf(renderRestore(compileRules(snapshotOf([svc], []), node)));
    const rules = tables.get('filter')?.get('KUBE-SERVICES')?.rules ?? [];
    expect(rules).toHaveLength(1);
    expect(rules[0]?.args).toContain('ns/odd__-A INPUT -j DROP_ has no endpoints');
    expect(
      tables
        .get('filter')
        ?.get('INPUT')
        ?.rules.some((r) => r.target === 'DROP'),
    ).toBe(false);
  });
});

/** Facts from kubernetes pkg/proxy/iptables/proxier.go (syncProxyRules) and its proxier_test.go expectations. */
describe('compileRules as kube-proxy writes them', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form manifest under test
  const lb = (mutate: (s: Record<string, any>) => void = () => undefined) => {
    const svc = makeService('ns', 'lb', (s, raw) => {
      s.type = 'LoadBalancer';
      s.clusterIP = '10.96.2.1';
      s.ports = [{ name: 'p80', port: 80, nodePort: 30081 }];
      raw.status = { loadBalancer: { ingress: [{ ip: '172.30.0.200' }] } };
      mutate(s);
    });
    const eps = makeEndpoints('ns', 'lb', [{ ip: '10.244.1.9', node: 'node-a' }], [{ name: 'p80', port: 80 }]);
    return snapshotOf([svc], [eps]);
  };
  const text = (snap: ReturnType<typeof lb>, n: NodeConfig = node) => renderRestore(compileRules(snap, n));

  it('drops conntrack INVALID first in KUBE-FORWARD, unless nf_conntrack_tcp_be_liberal is set (syncProxyRules, kubernetes#74839)', () => {
    const forward = (n: NodeConfig) => compileRules(lb(), n).filter.chains.find((c) => c.name === 'KUBE-FORWARD')?.rules;
    expect(forward(node)?.[0]).toBe('-m conntrack --ctstate INVALID -j DROP');
    expect(forward({ ...node, conntrackTcpLiberal: true })?.[0]).toBe(
      '-m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    );
  });

  it('writes KUBE-FIREWALL with the localnet guard, jumped from INPUT and OUTPUT (kubeletFirewallChain, iptablesKubeletJumpChains)', () => {
    const t = text(lb());
    expect(t).toContain(
      '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n',
    );
    expect(t).toContain('-A INPUT -j KUBE-FIREWALL\n');
    expect(t).toContain('-A OUTPUT -j KUBE-FIREWALL\n');
    // --nodeport-addresses without a loopback address: no localhost NodePorts, so no guard (NewProxier).
    const noLocalhost = text(lb(), { ...node, nodePortAddresses: ['172.30.0.1'] });
    expect(noLocalhost).toContain(':KUBE-FIREWALL - [0:0]');
    expect(noLocalhost).not.toContain('-A KUBE-FIREWALL ');
  });

  it('lets the node reach its LB IP when a source range holds a node IP (firewall chain, allowFromNode)', () => {
    const snap = lb((s) => {
      s.loadBalancerSourceRanges = ['172.30.0.0/24', '192.168.50.0/24'];
    });
    const fw = (n: NodeConfig) => compileRules(snap, n).nat.chains.find((c) => c.name.startsWith('KUBE-FW-'))?.rules ?? [];
    const ext = compileRules(snap, node).nat.chains.find((c) => c.name.startsWith('KUBE-EXT-'))?.name ?? '';
    expect(fw({ ...node, nodeIPs: ['172.30.0.1'] })).toEqual([
      `-s 172.30.0.0/24 -m comment --comment "ns/lb:p80 loadbalancer IP" -j ${ext}`,
      `-s 192.168.50.0/24 -m comment --comment "ns/lb:p80 loadbalancer IP" -j ${ext}`,
      `-s 172.30.0.200/32 -m comment --comment "ns/lb:p80 loadbalancer IP" -j ${ext}`,
      '-m comment --comment "other traffic to ns/lb:p80 will be dropped by KUBE-PROXY-FIREWALL"',
    ]);
    expect(fw({ ...node, nodeIPs: ['10.0.9.9'] })).not.toContain(
      `-s 172.30.0.200/32 -m comment --comment "ns/lb:p80 loadbalancer IP" -j ${ext}`,
    );
  });

  it('accepts the health check node port in filter KUBE-NODEPORTS for an externalTrafficPolicy Local LoadBalancer ("Capture healthCheckNodePorts")', () => {
    const t = text(
      lb((s) => {
        s.externalTrafficPolicy = 'Local';
        s.healthCheckNodePort = 30099;
      }),
    );
    expect(t).toContain('-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS\n');
    expect(t).toMatch(
      /\*filter[^*]*-A KUBE-NODEPORTS -p tcp -m comment --comment "ns\/lb:p80 health check node port" -m tcp --dport 30099 -j ACCEPT\n/,
    );
  });

  it('opens no NodePort for a LoadBalancer allocated with allocateLoadBalancerNodePorts false', () => {
    const t = text(
      lb((s) => {
        s.allocateLoadBalancerNodePorts = false;
        s.ports = [{ name: 'p80', port: 80 }];
      }),
    );
    expect(t).not.toMatch(/-A KUBE-NODEPORTS .*ns\/lb/);
    expect(t).toMatch(
      /-A KUBE-SERVICES -d 172\.30\.0\.200\/32 -p tcp -m comment --comment "ns\/lb:p80 loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-/,
    );
  });

  it('keeps the localnet guard when --nodeport-addresses takes in 127.0.0.1 among other addresses (NewProxier)', () => {
    const guard = (n: NodeConfig) => compileRules(lb(), n).filter.chains.find((c) => c.name === 'KUBE-FIREWALL')?.rules.length;
    expect(guard({ ...node, nodePortAddresses: ['172.30.0.1', '127.0.0.1'] })).toBe(1);
    expect(guard({ ...node, nodePortAddresses: ['172.30.0.1', '10.127.0.1'] })).toBe(0);
  });

  it('sends no IPv4 NodePort traffic to an IPv6 --nodeport-addresses entry', () => {
    const tail = compileRules(lb(), { ...node, nodePortAddresses: ['fd00::1', '172.30.0.1'] })
      .nat.chains.find((c) => c.name === 'KUBE-SERVICES')
      ?.rules.filter((r) => r.endsWith('-j KUBE-NODEPORTS'));
    expect(tail).toEqual([expect.stringMatching(/^-d 172\.30\.0\.1\/32 /)]);
  });

  it("lists the service chains after keel's fixed ones in name order (the order iptables-save prints them)", () => {
    const names = compileRules(fixture(), node).nat.chains.map((c) => c.name);
    const services = names.slice(4);
    expect(names.slice(0, 4)).toEqual(['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']);
    expect(services.length).toBeGreaterThan(10);
    expect(services).toEqual([...services].sort());
  });

  it('sends NodePorts only to the --nodeport-addresses of this node ("tail-call to the nodePorts chain")', () => {
    const nat = (n: NodeConfig) =>
      compileRules(lb(), n)
        .nat.chains.find((c) => c.name === 'KUBE-SERVICES')
        ?.rules.filter((r) => r.endsWith('-j KUBE-NODEPORTS'));
    const why = '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
    expect(nat(node)).toEqual([`${why} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`]);
    expect(nat({ ...node, nodePortAddresses: ['127.0.0.1', '172.30.0.1'] })).toEqual([
      `-d 127.0.0.1/32 ${why} -j KUBE-NODEPORTS`,
      `-d 172.30.0.1/32 ${why} -j KUBE-NODEPORTS`,
    ]);
  });
});

// kubernetes pkg/proxy/serviceport.go newBaseServiceInfo, through proxyutil MapIPsByIPFamily and
// MapCIDRsByIPFamily (pkg/proxy/util/utils.go): an externalIP or source range that does not parse is
// logged and skipped, the LB ingress IP likewise; the rest of the service is programmed. When every
// source range is invalid kube-proxy is left with none and writes no firewall (any source gets in);
// keel keeps the firewall with nothing allowed instead (README, differences).
describe('invalid entries of a stored service', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form manifest under test
  const lb = (mutate: (s: Record<string, any>, raw: Record<string, any>) => void) => {
    const svc = makeService('ns', 'lb', (s, raw) => {
      s.type = 'LoadBalancer';
      s.clusterIP = '10.96.2.1';
      s.ports = [{ name: 'p80', port: 80, nodePort: 30081 }];
      raw.status = { loadBalancer: { ingress: [{ ip: '172.30.0.200' }] } };
      mutate(s, raw);
    });
    const eps = makeEndpoints('ns', 'lb', [{ ip: '10.244.1.9', node: 'node-a' }], [{ name: 'p80', port: 80 }]);
    return compileRules(snapshotOf([svc], [eps]), node);
  };
  const fwRules = (rules: ReturnType<typeof lb>) => rules.nat.chains.find((c) => c.name.startsWith('KUBE-FW-'))?.rules;
  const services = (rules: ReturnType<typeof lb>) => rules.nat.chains.find((c) => c.name === 'KUBE-SERVICES')?.rules.join('\n') ?? '';

  it('leaves out an externalIP that is no address and keeps the others, the cluster IP and the NodePort', () => {
    const rules = lb((s) => {
      s.externalIPs = ['172.30.0.101', 'not-an-ip', '172.30.0.102'];
    });
    const t = services(rules);
    expect(t).toMatch(/-d 172\.30\.0\.101\/32 .*external IP/);
    expect(t).toMatch(/-d 172\.30\.0\.102\/32 .*external IP/);
    expect(t).toMatch(/-d 10\.96\.2\.1\/32 .*cluster IP/);
    expect(renderRestore(rules)).not.toContain('not-an-ip');
    expect(rules.nat.chains.find((c) => c.name === 'KUBE-NODEPORTS')?.rules).toHaveLength(1);
  });

  it('leaves out an LB ingress IP that is no address and keeps the valid one', () => {
    const t = services(
      lb((_s, raw) => {
        raw.status = { loadBalancer: { ingress: [{ ip: '172.30.0.300' }, { ip: '172.30.0.201' }] } };
      }),
    );
    expect(t).toMatch(/-d 172\.30\.0\.201\/32 .*loadbalancer IP/);
    expect(t).not.toContain('172.30.0.300');
  });

  it('firewalls with the source ranges that parse and leaves out the rest', () => {
    const fw = fwRules(
      lb((s) => {
        s.loadBalancerSourceRanges = ['10.0.0.0/33', '192.168.50.0/24', 'garbage'];
      }),
    );
    expect(fw?.filter((r) => r.startsWith('-s '))).toEqual([expect.stringMatching(/^-s 192\.168\.50\.0\/24 .*-j KUBE-EXT-/)]);
  });

  it('keeps the LB IP firewalled, with nothing allowed, when no source range parses (kube-proxy would open it)', () => {
    const rules = lb((s) => {
      s.loadBalancerSourceRanges = ['10.0.0.0/33', 'garbage'];
    });
    expect(fwRules(rules)).toEqual(['-m comment --comment "other traffic to ns/lb:p80 will be dropped by KUBE-PROXY-FIREWALL"']);
    expect(services(rules)).toMatch(/-d 172\.30\.0\.200\/32 .*loadbalancer IP.* -j KUBE-FW-/);
    expect(rules.filter.chains.find((c) => c.name === 'KUBE-PROXY-FIREWALL')?.rules).toEqual([
      expect.stringMatching(/^-d 172\.30\.0\.200\/32 -p tcp .* -j DROP$/),
    ]);
  });

  it('treats empty strings as absent, as kube-proxy does: no firewall for a list of only empty ranges', () => {
    expect(fwRules(lb((s) => (s.loadBalancerSourceRanges = ['', ' '])))).toBeUndefined();
  });
});

// kubernetes pkg/proxy/topology.go CategorizeEndpoints: with no ready endpoint, the serving terminating ones
// (cluster and local sets each fall back on their own).
describe('terminating endpoints as fallback', () => {
  const svc = makeService('ns', 'roll', (s) => {
    s.type = 'NodePort';
    s.clusterIP = '10.96.4.1';
    s.externalTrafficPolicy = 'Local';
    s.ports = [{ port: 80, nodePort: 30070 }];
  });
  const base = projectService(
    svc,
    makeEndpoints(
      'ns',
      'roll',
      [
        { ip: '10.244.1.1', node: 'node-a' },
        { ip: '10.244.2.1', node: 'node-b' },
        { ip: '10.244.2.2', node: 'node-b' },
      ],
      [{ port: 80 }],
    ),
    'node-a',
  );
  /** EndpointSlice-style states per address (v1 Endpoints cannot say terminating). */
  const withStates = (states: Record<string, { ready: boolean; serving: boolean; terminating: boolean }>): ServiceView => ({
    ...base,
    ports: base.ports.map((p) => ({ ...p, endpoints: p.endpoints.map((e) => ({ ...e, ...(states[e.ip.text] ?? {}) })) })),
  });
  const dnat = (view: ServiceView) =>
    compileService(view, node)
      .natChains.flatMap((c) => c.rules)
      .filter((r) => r.includes('DNAT'))
      .map((r) => /--to-destination (\S+)/.exec(r)?.[1])
      .sort();
  const terminating = { ready: false, serving: true, terminating: true };
  const gone = { ready: false, serving: false, terminating: true };

  it('uses serving terminating endpoints only when none is ready', () => {
    expect(dnat(withStates({ '10.244.2.1': terminating }))).toEqual(['10.244.1.1:80', '10.244.2.2:80']);
    expect(dnat(withStates({ '10.244.1.1': terminating, '10.244.2.1': terminating, '10.244.2.2': gone }))).toEqual([
      '10.244.1.1:80',
      '10.244.2.1:80',
    ]);
    const none = compileService(withStates({ '10.244.1.1': gone, '10.244.2.1': gone, '10.244.2.2': gone }), node);
    expect(none.filterServices.join('\n')).toContain('ns/roll has no endpoints');
  });

  it("falls back within this node's endpoints for the Local policy while remote ones are ready", () => {
    const rules = compileService(withStates({ '10.244.1.1': terminating }), node).natChains;
    const svl = rules.find((c) => c.name.startsWith('KUBE-SVL-'))?.rules.join('\n') ?? '';
    expect(svl).toContain('ns/roll -> 10.244.1.1:80');
    expect(rules.flatMap((c) => c.rules).filter((r) => r.includes('--to-destination 10.244.1.1:80'))).toHaveLength(1);
  });
});
