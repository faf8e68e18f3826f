import { describe, expect, it } from 'vitest';
import { endpointNames, isServiceObjectName, portChainNames } from './nft-names.js';

describe('nftables object names', () => {
  it("equal kube-proxy's nftables names for the same service port and endpoint", () => {
    // Values from kube-proxy's nftables proxier tests (ns1/svc1:p80, endpoint 10.180.0.1:80).
    expect(portChainNames('ns1/svc1:p80', 'TCP').cluster).toBe('service-ULMVA6XW-ns1/svc1/tcp/p80');
    expect(endpointNames('ns1/svc1:p80', 'TCP', '10.180.0.1:80')).toEqual({
      chain: 'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80',
      affinity: 'affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80',
    });
  });

  it('share one hash across a port’s chains, and tell service objects from fixed ones', () => {
    const n = portChainNames('default/web', 'UDP');
    expect(n.external.slice('external-'.length)).toBe(n.cluster.slice('service-'.length));
    expect(n.cluster).toMatch(/^service-[A-Z2-7]{8}-default\/web\/udp\/$/);
    expect(isServiceObjectName(n.local)).toBe(true);
    expect(isServiceObjectName('services')).toBe(false);
  });
});
