import { describe, expect, it } from 'vitest';
import { firstFree } from './service-ips.js';
import { chooseSubnet, subnetConfig } from './subnets.js';

describe('subnetConfig', () => {
  it.each([
    ['10.244.0.0/16', 24],
    ['10.0.0.0/22', 24],
    ['10.0.0.0/23', 25],
    ['fd00::/48', 64],
  ])("gives %s flannel's default SubnetLen /%i", (network, len) => {
    expect(subnetConfig(network).subnetLen).toBe(len);
  });

  it('takes a SubnetLen longer than the network and at most two bits short of a host', () => {
    expect(subnetConfig('10.244.0.0/16', 30).subnetLen).toBe(30);
    expect(subnetConfig('fd00::/48', 126).subnetLen).toBe(126);
    for (const [net, len] of [
      ['10.244.0.0/16', 16],
      ['10.244.0.0/16', 31],
      ['fd00::/48', 127],
      ['10.244.0.0/16', 24.5],
    ] as const) {
      expect(() => subnetConfig(net, len)).toThrow(/^SubnetLen: /);
    }
    expect(() => subnetConfig('nope')).toThrow('Network: "nope" is not a CIDR');
  });

  it('reads SubnetMin/SubnetMax with or without a length, inside the network and in order', () => {
    const cfg = subnetConfig('10.244.0.0/16', 24, '10.244.5.0', '10.244.6.0/24');
    expect([cfg.subnetMin?.text, cfg.subnetMax?.text]).toEqual(['10.244.5.0/24', '10.244.6.0/24']);
    expect(() => subnetConfig('10.244.0.0/16', 24, '10.245.0.0')).toThrow(
      'SubnetMin: "10.245.0.0" is not a /24 subnet inside 10.244.0.0/16',
    );
    expect(() => subnetConfig('10.244.0.0/16', 24, undefined, '10.244.6.0/25')).toThrow(
      'SubnetMax: "10.244.6.0/25" is not a /24 subnet inside 10.244.0.0/16',
    );
    expect(() => subnetConfig('10.244.0.0/16', 24, '10.244.7.0', '10.244.6.0')).toThrow(
      'SubnetMin: 10.244.7.0/24 is after SubnetMax 10.244.6.0/24',
    );
    const taken = new Set(['10.244.5.0/24']);
    expect(chooseSubnet(cfg, taken, firstFree)?.text).toBe('10.244.6.0/24');
    expect(chooseSubnet(cfg, new Set([...taken, '10.244.6.0/24']), firstFree)).toBeUndefined();
  });

  it('takes SubnetMin alone, SubnetMax alone, or both naming one subnet', () => {
    expect(subnetConfig('10.244.0.0/16', 24, '10.244.250.0').subnetMax).toBeUndefined();
    expect(chooseSubnet(subnetConfig('10.244.0.0/16', 24, '10.244.250.0'), new Set(), () => 5n)?.text).toBe('10.244.255.0/24');
    expect(chooseSubnet(subnetConfig('10.244.0.0/16', 24, undefined, '10.244.2.0'), new Set(), () => 1n)?.text).toBe('10.244.2.0/24');
    const one = subnetConfig('10.244.0.0/16', 24, '10.244.9.0', '10.244.9.0');
    expect(chooseSubnet(one, new Set(), firstFree)?.text).toBe('10.244.9.0/24');
    expect(chooseSubnet(one, new Set(['10.244.9.0/24']), firstFree)).toBeUndefined();
  });
});

describe('chooseSubnet', () => {
  // flannel leases from the second subnet of the network to its last one by default.
  it('leases from the second to the last subnet of an IPv4 and of an IPv6 network', () => {
    const v4 = subnetConfig('10.244.0.0/16');
    expect([firstFree, (n: bigint) => n - 1n].map((pick) => chooseSubnet(v4, new Set(), pick)?.text)).toEqual([
      '10.244.1.0/24',
      '10.244.255.0/24',
    ]);
    const v6 = subnetConfig('fd00:10:244::/56');
    expect([firstFree, (n: bigint) => n - 1n].map((pick) => chooseSubnet(v6, new Set(), pick)?.text)).toEqual([
      'fd00:10:244:1::/64',
      'fd00:10:244:ff::/64',
    ]);
    expect(chooseSubnet(v4, new Set(), (n) => n)?.text).toBe('10.244.1.0/24');
  });
});
