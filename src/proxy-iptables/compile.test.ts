/**
 * Address plan: node "node-a"; pods 10.244.0.0/16 (10.244.1.x on node-a,
 * 10.244.2.x on node-b); services 10.96.0.0/12; NodePorts 30000-30099.
 */
import { describe, expect, it } from 'vitest';
import { FakeRunner } from '../iptables/fake-runner.js';
import { tablesOf } from '../iptables/parse-restore.js';
import { compileRules, DEFAULT_MASQUERADE_BIT, type NodeConfig } from './compile.js';
import { renderRestore } from './render-restore.js';
import { probability } from './rule-text.js';
import { makeEndpoints, makeService, snapshotOf } from './test-builders.js';

const node: NodeConfig = { nodeName: 'node-a', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };

function fixture() {
  const web = makeService('default', 'web', (s) => {
    s.type = 'NodePort';
    s.clusterIP = '10.96.0.10';
    s.ports = [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }];
  });
  const webEps = makeEndpoints('default', 'web', [{ ip: '10.244.2.7', node: 'node-b' }, { ip: '10.244.1.5', node: 'node-a' }], [{ name: 'http', port: 8080 }]);
  const dns = makeService('kube-system', 'dns', (s) => {
    s.clusterIP = '10.96.0.53';
    s.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }];
  });
  const dnsEps = makeEndpoints('kube-system', 'dns', [{ ip: '10.244.1.53', node: 'node-a' }], [{ name: 'dns', port: 53, protocol: 'UDP' }]);
  const empty = makeService('default', 'empty', (s) => {
    s.type = 'NodePort';
    s.clusterIP = '10.96.0.20';
    s.ports = [{ port: 80, nodePort: 30090 }];
  });
  const sticky = makeService('default', 'sticky', (s) => {
    s.clusterIP = '10.96.0.30';
    s.ports = [{ port: 80 }];
    s.sessionAffinity = 'ClientIP';
    s.sessionAffinityConfig = { clientIP: { timeoutSeconds: 600 } };
  });
  const stickyEps = makeEndpoints('default', 'sticky', [{ ip: '10.244.1.6', node: 'node-a' }, { ip: '10.244.2.6', node: 'node-b' }], [{ port: 80 }]);
  const local = makeService('default', 'local', (s) => {
    s.type = 'NodePort';
    s.clusterIP = '10.96.0.40';
    s.externalTrafficPolicy = 'Local';
    s.externalIPs = ['172.30.0.100'];
    s.ports = [{ port: 80, nodePort: 30040 }];
  });
  const localEps = makeEndpoints('default', 'local', [{ ip: '10.244.1.8', node: 'node-a' }, { ip: '10.244.2.8', node: 'node-b' }], [{ port: 80 }]);
  return snapshotOf([web, dns, empty, sticky, local], [webEps, dnsEps, stickyEps, localEps]);
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
      const eps = makeEndpoints('ns', 'svc', Array.from({ length: n }, (_, i) => ({ ip: `10.244.3.${i + 1}` })), [{ port: 80 }]);
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
      s.ports = [{ name: 'web', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090 }];
    });
    const eps = makeEndpoints('ns', 'named', [{ ip: '10.244.3.1' }], [{ name: 'web', port: 8080 }, { name: 'metrics', port: 9100 }]);
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
      const eps = makeEndpoints('ns', 'itp', [{ ip: '10.244.3.1', node: onNode }, { ip: '10.244.3.2', node: 'node-z' }], [{ port: 80 }]);
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
    expect(tables.get('filter')?.get('INPUT')?.rules.some((r) => r.target === 'DROP')).toBe(false);
  });
});
