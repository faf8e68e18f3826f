import { describe, expect, it } from 'vitest';
import { parseCidr, type Cidr } from '../api/ip.js';
import {
  checkServiceOverlap,
  parseNetworkConfig,
  renderNetworkConfig,
  type FamilyRange,
  type NetworkConfig,
  type NetworkConfigInput,
} from './network-config.js';

const rangeText = (r: FamilyRange) => ({
  network: r.network.text,
  subnetLen: r.subnetLen,
  subnetMin: r.subnetMin.text,
  subnetMax: r.subnetMax.text,
});

/** A parsed config as plain values, addresses as text. */
function view(c: NetworkConfig): Record<string, unknown> {
  return { enableIPv4: c.enableIPv4, ...rangeText(c), backend: c.backend, ipv6: c.ipv6 && rangeText(c.ipv6) };
}

describe('parseNetworkConfig', () => {
  // Each case names the fields it is about; those are compared exactly.
  it.each([
    [
      'fills flannel defaults',
      '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}',
      {
        network: '10.244.0.0/16',
        subnetLen: 24,
        subnetMin: '10.244.1.0',
        subnetMax: '10.244.255.0',
        backend: { type: 'vxlan', vni: 1, port: 8472, directRouting: false },
        ipv6: undefined,
      },
    ],
    [
      'defaults to udp without Backend, as flannel does, and SubnetLen +2 on small networks',
      '{"Network":"10.244.0.0/24"}',
      { subnetLen: 26, backend: { type: 'udp', vni: 1, port: 8285, directRouting: false } },
    ],
    [
      'reads flannel-written fields',
      '{"Network":"10.1.0.0/16","SubnetLen":26,"SubnetMin":"10.1.4.0","SubnetMax":"10.1.9.192","Backend":{"Type":"vxlan","VNI":7,"Port":4789,"DirectRouting":true}}',
      {
        subnetLen: 26,
        subnetMin: '10.1.4.0',
        subnetMax: '10.1.9.192',
        backend: { type: 'vxlan', vni: 7, port: 4789, directRouting: true },
      },
    ],
    [
      'reads a dual-stack config (flannel EnableIPv6) with flannel defaults: a /64 per node from the second one',
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}',
      {
        enableIPv4: true,
        ipv6: { network: 'fd00:10:244::/56', subnetLen: 64, subnetMin: 'fd00:10:244:1::', subnetMax: 'fd00:10:244:ff::' },
      },
    ],
    [
      'reads an IPv6-only config (EnableIPv4 false): IPv4 fields at flannel zero values',
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/120","IPv6SubnetMin":"fd00:10:244::80","Backend":{"Type":"host-gw"}}',
      {
        enableIPv4: false,
        network: '0.0.0.0/0',
        ipv6: { network: 'fd00:10:244::/120', subnetLen: 122, subnetMin: 'fd00:10:244::80', subnetMax: 'fd00:10:244::c0' },
      },
    ],
  ])('%s', (_name, text, want) => {
    const got = view(parseNetworkConfig(text));
    expect(Object.fromEntries(Object.keys(want).map((k) => [k, got[k]]))).toEqual(want);
  });

  it.each([
    ['{"Network":"10.244.0.0/16","SubnetLen":15}', 'SubnetLen: /15 is too large for Network 10.244.0.0/16'],
    ['{"Network":"10.244.0.0/16","SubnetLen":31}', 'SubnetLen: /31 is too small'],
    ['{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard"}}', 'Backend.Type: unknown backend "wireguard"'],
    ['{"Network":"10.244.1.0/16"}', 'has host bits set'],
    ['{"Network":"fd00::/64"}', 'is not an IPv4 CIDR'],
    ['{"Network":"10.244.0.0/16","SubnetMin":"10.245.0.0"}', 'SubnetMin: 10.245.0.0 is not in Network'],
    ['{"Network":"10.244.0.0/16","SubnetMin":"10.244.0.5"}', 'is not on a /24 boundary'],
    ['{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":0}}', 'Backend.VNI: 0'],
    ['{"Backend":{}}', 'Network: required'],
    ['not json', 'not valid JSON'],
    ['{"EnableIPv4":false}', 'EnableIPv4 and EnableIPv6 are both false'],
    ['{"EnableIPv4":false,"EnableIPv6":true}', 'IPv6Network: required'],
    ['{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"10.0.0.0/8"}', 'is not an IPv6 CIDR'],
    ['{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/126"}', 'too small: the smallest useful network is a /124'],
    ['{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/64","IPv6SubnetLen":127}', 'IPv6SubnetLen: /127 is too small'],
    ['{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/64","IPv6SubnetMin":"fd00::5"}', 'is not on a /66 boundary'],
    ['{"EnableIPv4":false,"EnableIPv6":"yes","IPv6Network":"fd00::/64"}', 'EnableIPv6: must be true or false'],
    ['{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","Backend":{"Type":"udp"}}', 'udp carries IPv4 only'],
  ])('rejects %s', (text, message) => {
    expect(() => parseNetworkConfig(text)).toThrow(message);
  });
});

describe('checkServiceOverlap', () => {
  const ipv6Only =
    '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/120","IPv6SubnetMin":"fd00:10:244::80","Backend":{"Type":"host-gw"}}';
  it.each([
    ['{"Network":"10.96.0.0/16"}', '10.96.0.0/12', 'overlaps the service range 10.96.0.0/12'],
    ['{"Network":"10.244.0.0/16"}', '10.96.0.0/12', undefined],
    [ipv6Only, '10.96.0.0/12', undefined],
    [ipv6Only, 'fd00:10:244::/112', 'Network fd00:10:244::/120 overlaps'],
  ])('%s beside services in %s: %s', (text, serviceRange, message) => {
    const check = (): void => checkServiceOverlap(parseNetworkConfig(text), parseCidr(serviceRange) as Cidr);
    if (message === undefined) expect(check).not.toThrow();
    else expect(check).toThrow(message);
  });
});

describe('renderNetworkConfig', () => {
  // What the user chose or the backend needs, in flannel's field order; each parses back to what was asked.
  it.each([
    [{ network: '10.244.0.0/16', backend: 'vxlan' }, '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}'],
    [
      { network: '10.244.0.0/16', backend: 'host-gw', subnetLen: 25 },
      '{"Network":"10.244.0.0/16","SubnetLen":25,"Backend":{"Type":"host-gw"}}',
    ],
    [
      { network: '10.244.0.0/16,fd00:10:244::/56', backend: 'vxlan' },
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan","VNI":1}}',
    ],
    // IPv6 alone is IPv6-only.
    [
      { network: 'fd00:10:244::/56', backend: 'host-gw', subnetLen: 64 },
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","IPv6SubnetLen":64,"Backend":{"Type":"host-gw"}}',
    ],
  ])('renders %j', (input: NetworkConfigInput, json) => {
    expect(renderNetworkConfig(input)).toBe(json);
    const back = parseNetworkConfig(json);
    expect(back.backend.type).toBe(input.backend);
    const ranges = [back.enableIPv4 ? back : undefined, back.ipv6].filter((r) => r !== undefined);
    expect(ranges.map((r) => r.network.text).join(',')).toBe(input.network);
    if (input.subnetLen !== undefined) expect(ranges.map((r) => r.subnetLen)).toEqual([input.subnetLen]);
  });

  it('refuses two networks of one family', () => {
    expect(() => renderNetworkConfig({ network: '10.1.0.0/16,10.2.0.0/16', backend: 'vxlan' })).toThrow('one network per family');
  });
});
