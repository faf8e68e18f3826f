import { describe, expect, it } from 'vitest';
import { resolveNodePortAddresses } from './nodeport-addresses.js';

// kubernetes pkg/proxy/util/nodeport_addresses.go (NewNodePortAddresses, GetNodeIPs, MatchAll).
describe('resolveNodePortAddresses', () => {
  const local = ['127.0.0.1', '172.30.0.1', '172.30.2.1', '10.244.1.1', 'fe80::1'];
  it('is every local address when unset or matching all (kube-proxy default)', () => {
    expect(resolveNodePortAddresses(undefined, local, ['172.30.0.1'])).toBeUndefined();
    expect(resolveNodePortAddresses('0.0.0.0/0', local, ['172.30.0.1'])).toBeUndefined();
  });
  it('keeps the local addresses inside the CIDRs, loopback only when asked', () => {
    expect(resolveNodePortAddresses('172.30.0.0/16', local, [])).toEqual(['172.30.0.1', '172.30.2.1']);
    expect(resolveNodePortAddresses('172.30.0.0/24, 127.0.0.0/8', local, [])).toEqual(['127.0.0.1', '172.30.0.1']);
  });
  it('reads "primary" as the node IPs', () => {
    expect(resolveNodePortAddresses('primary', local, ['172.30.2.1'])).toEqual(['172.30.2.1']);
  });
  it('refuses what is neither', () => {
    expect(() => resolveNodePortAddresses('eth0', local, [])).toThrow('--nodeport-addresses');
  });
});
