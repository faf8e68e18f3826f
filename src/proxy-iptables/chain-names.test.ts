import { describe, expect, it } from 'vitest';
import { servicePortName } from '../service-view/service-port-name.js';
import { extChain, isServiceChainName, sepChain, svcChain } from './chain-names.js';

describe('chain names', () => {
  it("equal kube-proxy's for the same service port and endpoint", () => {
    // Values from kube-proxy's proxier tests (ns1/svc1:p80, endpoint 10.180.0.1:80).
    expect(svcChain('ns1/svc1:p80', 'TCP')).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(sepChain('ns1/svc1:p80', 'TCP', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
  });

  it("differ by protocol and prefix, and fit iptables' 28-character limit", () => {
    const spn = servicePortName('default', 'web', 'http');
    expect(spn).toBe('default/web:http');
    expect(svcChain(spn, 'UDP')).not.toBe(svcChain(spn, 'TCP'));
    expect(extChain(spn, 'TCP').slice(9)).toBe(svcChain(spn, 'TCP').slice(9));
    expect(sepChain(spn, 'TCP', '10.244.1.1:8080').length).toBeLessThanOrEqual(28);
    expect(servicePortName('default', 'web', undefined)).toBe('default/web');
  });

  it('recognise only the prefixes keel owns', () => {
    expect(isServiceChainName('KUBE-SEP-ABC')).toBe(true);
    expect(isServiceChainName('KUBE-SERVICES')).toBe(false);
    expect(isServiceChainName('CNI-HOSTPORT-DNAT')).toBe(false);
  });
});
