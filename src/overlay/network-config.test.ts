import { describe, expect, it } from 'vitest';
import { parseCidr, type Cidr } from '../api/ip.js';
import { checkServiceOverlap, parseNetworkConfig, renderNetworkConfig } from './network-config.js';

describe('parseNetworkConfig', () => {
  it('fills flannel defaults', () => {
    const c = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
    expect(c.network.text).toBe('10.244.0.0/16');
    expect(c.subnetLen).toBe(24);
    expect(c.subnetMin.text).toBe('10.244.1.0');
    expect(c.subnetMax.text).toBe('10.244.255.0');
    expect(c.backend).toEqual({ type: 'vxlan', vni: 1, port: 8472, directRouting: false });
  });

  it('defaults to udp without Backend, as flannel does, and SubnetLen +2 on small networks', () => {
    const c = parseNetworkConfig('{"Network":"10.244.0.0/24"}');
    expect(c.backend.type).toBe('udp');
    expect(c.backend.port).toBe(8285);
    expect(c.subnetLen).toBe(26);
  });

  it('reads flannel-written fields', () => {
    const c = parseNetworkConfig(
      '{"Network":"10.1.0.0/16","SubnetLen":26,"SubnetMin":"10.1.4.0","SubnetMax":"10.1.9.192","Backend":{"Type":"vxlan","VNI":7,"Port":4789,"DirectRouting":true}}',
    );
    expect([c.subnetLen, c.subnetMin.text, c.subnetMax.text]).toEqual([26, '10.1.4.0', '10.1.9.192']);
    expect(c.backend).toEqual({ type: 'vxlan', vni: 7, port: 4789, directRouting: true });
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
  ])('rejects %s', (text, message) => {
    expect(() => parseNetworkConfig(text)).toThrow(message);
  });

  it('refuses overlap with the service range', () => {
    const c = parseNetworkConfig('{"Network":"10.96.0.0/16"}');
    expect(() => checkServiceOverlap(c, parseCidr('10.96.0.0/12') as Cidr)).toThrow('overlaps the service range 10.96.0.0/12');
    expect(() => checkServiceOverlap(parseNetworkConfig('{"Network":"10.244.0.0/16"}'), parseCidr('10.96.0.0/12') as Cidr)).not.toThrow();
  });
});

describe('renderNetworkConfig', () => {
  it('writes flannel JSON that parses back', () => {
    const text = renderNetworkConfig({ network: '10.244.0.0/16', backend: 'vxlan' });
    expect(text).toBe('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}');
    expect(parseNetworkConfig(text).backend.type).toBe('vxlan');
    expect(renderNetworkConfig({ network: '10.244.0.0/16', backend: 'host-gw', subnetLen: 25 })).toBe(
      '{"Network":"10.244.0.0/16","SubnetLen":25,"Backend":{"Type":"host-gw"}}',
    );
  });
});

describe('IPv6 network config (flannel EnableIPv6 / EnableIPv4)', () => {
  it('reads a dual-stack config with flannel defaults: a /64 per node from the second one', () => {
    const c = parseNetworkConfig(
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}',
    );
    expect(c.enableIPv4).toBe(true);
    expect(c.ipv6?.network.text).toBe('fd00:10:244::/56');
    expect(c.ipv6?.subnetLen).toBe(64);
    expect(c.ipv6?.subnetMin.text).toBe('fd00:10:244:1::');
    expect(c.ipv6?.subnetMax.text).toBe('fd00:10:244:ff::');
  });

  it('reads an IPv6-only config: IPv4 fields at flannel zero values', () => {
    const c = parseNetworkConfig(
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/120","IPv6SubnetMin":"fd00:10:244::80","Backend":{"Type":"host-gw"}}',
    );
    expect(c.enableIPv4).toBe(false);
    expect(c.network.text).toBe('0.0.0.0/0');
    expect(c.ipv6?.subnetLen).toBe(122);
    expect(c.ipv6?.subnetMin.text).toBe('fd00:10:244::80');
    expect(() => checkServiceOverlap(c, parseCidr('10.96.0.0/12') as Cidr)).not.toThrow();
    expect(() => checkServiceOverlap(c, parseCidr('fd00:10:244::/112') as Cidr)).toThrow('Network fd00:10:244::/120 overlaps');
  });

  it.each([
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

  it('renders one network per family, IPv6 alone as IPv6-only', () => {
    expect(renderNetworkConfig({ network: '10.244.0.0/16,fd00:10:244::/56', backend: 'vxlan' })).toBe(
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan","VNI":1}}',
    );
    const only = renderNetworkConfig({ network: 'fd00:10:244::/56', backend: 'host-gw', subnetLen: 64 });
    expect(only).toBe(
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","IPv6SubnetLen":64,"Backend":{"Type":"host-gw"}}',
    );
    expect(parseNetworkConfig(only).ipv6?.subnetLen).toBe(64);
    expect(() => renderNetworkConfig({ network: '10.1.0.0/16,10.2.0.0/16', backend: 'vxlan' })).toThrow('one network per family');
  });
});
