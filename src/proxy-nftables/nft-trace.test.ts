/** Address plan: see testing/nft-fixture.ts (node-a 172.30.0.1, pods 10.244.0.0/16, services 10.96.0.0/12, external 203.0.113.0/24). */
import { describe, expect, it } from 'vitest';
import { formatTrace, type TracePacket } from '../proxy-iptables/trace.js';
import { compileNftables } from './compile.js';
import { traceNftPacket } from './nft-trace.js';
import { fixtureNode } from '../proxy-iptables/testing/fixture-node.js';
import { nftFixture } from './testing/nft-fixture.js';

const table = compileNftables(nftFixture(), fixtureNode);
const trace = (pkt: Partial<TracePacket> & Pick<TracePacket, 'dst' | 'dport'>) =>
  traceNftPacket(table, { src: '10.244.1.9', protocol: 'tcp', from: 'pod', ...pkt }, ['172.30.0.1']);
const summary = (out: ReturnType<typeof trace>) => out.map((o) => [o.verdict, o.probability.toFixed(3), o.masquerade]);

describe('traceNftPacket', () => {
  it('splits a ClusterIP between endpoints at the numgen choice, through the service-ips map', () => {
    const out = trace({ dst: '10.96.0.10', dport: 80 });
    expect(summary(out)).toEqual([
      ['DNAT 10.244.1.5:8080', '0.500', false],
      ['DNAT 10.244.2.7:8080', '0.500', false],
    ]);
    expect(formatTrace(out, false)).toMatch(/^DNAT 10\.244\.1\.5:8080 p=0\.500 via services → service-SUSTUHLJ-default\/web\/tcp\/http\n/);
    expect(out[0]?.rules).toContain('    10.96.0.10 . tcp . 80 : goto service-SUSTUHLJ-default/web/tcp/http');
  });

  it('UDP ports of the same ClusterIP go to their own chains', () => {
    expect(summary(trace({ dst: '10.96.0.10', dport: 53, protocol: 'udp' })).map((s) => s[0])).toEqual([
      'DNAT 10.244.1.5:5353',
      'DNAT 10.244.2.7:5353',
    ]);
  });

  it('masquerades host traffic to a ClusterIP and a pod reaching itself (hairpin)', () => {
    expect(trace({ src: '172.30.0.1', dst: '10.96.0.10', dport: 80, from: 'host' }).every((o) => o.masquerade)).toBe(true);
    const hairpin = trace({ src: '10.244.1.5', dst: '10.96.0.10', dport: 80 });
    expect(summary(hairpin)).toEqual([
      ['DNAT 10.244.1.5:8080', '0.500', true],
      ['DNAT 10.244.2.7:8080', '0.500', false],
    ]);
  });

  it('reaches a NodePort and an external IP from outside, masqueraded', () => {
    for (const dst of [
      { dst: '172.30.0.1', dport: 30080 },
      { dst: '203.0.113.10', dport: 80 },
    ]) {
      const out = trace({ src: '172.30.0.50', from: 'external', ...dst });
      expect(out.map((o) => o.verdict).sort()).toEqual(['DNAT 10.244.1.5:8080', 'DNAT 10.244.2.7:8080']);
      expect(out.every((o) => o.masquerade && Math.abs(o.probability - 0.5) < 1e-9)).toBe(true);
    }
  });

  it('says why a packet is refused: no endpoints, no local endpoint, a ClusterIP port no service has', () => {
    expect(summary(trace({ dst: '10.96.0.20', dport: 80 }))).toEqual([['REJECT: default/empty', '1.000', false]]);
    expect(summary(trace({ dst: '172.30.0.1', dport: 30090, src: '172.30.0.50', from: 'external' }))).toEqual([
      ['REJECT: default/empty', '1.000', false],
    ]);
    expect(summary(trace({ dst: '10.96.0.50', dport: 80 }))).toEqual([['DROP: default/internal', '1.000', false]]);
    expect(summary(trace({ dst: '10.96.0.10', dport: 81 }))).toEqual([
      ['REJECT: Reject traffic to invalid ports of ClusterIPs', '1.000', false],
    ]);
  });

  it('session affinity: a first packet has no entry yet and is spread; the endpoint records it', () => {
    const out = trace({ dst: '10.96.0.30', dport: 80 });
    expect(summary(out)).toEqual([
      ['DNAT 10.244.1.6:80', '0.500', false],
      ['DNAT 10.244.2.6:80', '0.500', false],
    ]);
    expect(out[0]?.rules.some((r) => r.includes('update @affinity-'))).toBe(true);
  });

  it('external Local: outside clients reach only the local endpoint with their address; the node reaches every endpoint', () => {
    const outside = trace({ src: '198.51.100.7', dst: '203.0.113.40', dport: 443, from: 'external' });
    // The one local endpoint sits in slot 0 of two: eight draws, then the lower-half fallback (p = 2^-8) picks it.
    expect(summary(outside)).toEqual([
      ['DNAT 10.244.1.40:8443', '0.996', false],
      ['DNAT 10.244.1.40:8443', '0.004', false],
    ]);
    // Printed without the rules, the fallback is the same outcome: one line with both shares.
    expect(formatTrace(outside, false)).toMatch(/^DNAT 10\.244\.1\.40:8443 p=1\.000 via [^\n]+\n$/);
    expect(formatTrace(outside, true).match(/^DNAT/gm)).toHaveLength(2);
    const fromNode = trace({ src: '172.30.0.1', dst: '203.0.113.40', dport: 443, from: 'host' });
    expect(summary(fromNode).map((s) => s[0])).toEqual(['DNAT 10.244.1.40:8443', 'DNAT 10.244.2.40:8443']);
  });

  it('drops an LB IP from outside its source ranges', () => {
    expect(summary(trace({ src: '192.168.9.9', dst: '203.0.113.40', dport: 443, from: 'external' }))).toEqual([
      ['DROP: default/lb', '1.000', false],
    ]);
  });

  it('lets traffic no service claims through untouched', () => {
    expect(summary(trace({ dst: '10.96.0.99', dport: 80 }))).toEqual([['ACCEPT (no service rule)', '1.000', false]]);
  });
});
