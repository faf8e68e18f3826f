import { beforeEach, describe, expect, it } from 'vitest';
import { compileRules, DEFAULT_MASQUERADE_BIT, type NodeConfig } from './compile.js';
import { renderRestore } from './render-restore.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';
import { formatTrace, tracePacket } from './trace.js';

/** Address plan: node 172.30.0.1 (node-a); pods 10.244.0.0/16; services 10.96.0.0/12. */
const node: NodeConfig = { nodeName: 'node-a', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
const web = makeService('default', 'web', (s) => {
  s.type = 'NodePort';
  s.clusterIP = '10.96.0.10';
  s.ports = [{ port: 80, nodePort: 30080 }];
});
const empty = makeService('default', 'empty', (s) => {
  s.clusterIP = '10.96.0.20';
  s.ports = [{ port: 80 }];
});
// Compiled before each test, not at file load, so Stryker runs a mutant in the compiler only against the tests that reach it.
let text: string;
beforeEach(() => {
  text = renderRestore(
    compileRules(
      snapshotOf([web, empty], [makeEndpoints('default', 'web', [{ ip: '10.244.1.5' }, { ip: '10.244.2.7' }], [{ port: 8080 }])]),
      node,
    ),
  );
});

describe('tracePacket', () => {
  it('splits a ClusterIP between endpoints with their probabilities', () => {
    const out = tracePacket(text, { src: '10.244.1.9', dst: '10.96.0.10', dport: 80, protocol: 'tcp', from: 'pod' }, ['172.30.0.1']);
    expect(out.map((o) => [o.verdict, o.probability.toFixed(3), o.masquerade])).toEqual([
      ['DNAT 10.244.1.5:8080', '0.500', false],
      ['DNAT 10.244.2.7:8080', '0.500', false],
    ]);
    expect(formatTrace(out, false)).toMatch(
      /^DNAT 10\.244\.1\.5:8080 p=0\.500 via nat\/KUBE-SERVICES → nat\/KUBE-SVC-\w+ → nat\/KUBE-SEP-\w+/,
    );
  });

  it('marks host traffic to a ClusterIP for masquerade', () => {
    const out = tracePacket(text, { src: '172.30.0.1', dst: '10.96.0.10', dport: 80, protocol: 'tcp', from: 'host' }, ['172.30.0.1']);
    expect(out.every((o) => o.masquerade && o.verdict.startsWith('DNAT'))).toBe(true);
  });

  it('reaches a NodePort from outside, masqueraded', () => {
    const out = tracePacket(text, { src: '172.30.0.50', dst: '172.30.0.1', dport: 30080, protocol: 'tcp', from: 'external' }, [
      '172.30.0.1',
    ]);
    expect(out.map((o) => o.verdict).sort()).toEqual(['DNAT 10.244.1.5:8080', 'DNAT 10.244.2.7:8080']);
    expect(out.every((o) => o.masquerade)).toBe(true);
  });

  it('says why a service without endpoints is refused', () => {
    const out = tracePacket(text, { src: '10.244.1.9', dst: '10.96.0.20', dport: 80, protocol: 'tcp', from: 'pod' }, ['172.30.0.1']);
    expect(out).toHaveLength(1);
    expect(out[0]?.verdict).toBe('REJECT: default/empty has no endpoints');
    expect(out[0]?.probability).toBe(1);
  });

  it('lets traffic that no service claims through untouched', () => {
    const out = tracePacket(text, { src: '10.244.1.9', dst: '10.96.0.99', dport: 80, protocol: 'tcp', from: 'pod' }, ['172.30.0.1']);
    expect(out.map((o) => o.verdict)).toEqual(['ACCEPT (no service rule)']);
  });
});
