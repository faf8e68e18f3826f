import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { firstFree } from '../ipam/service-ips.js';
import type { StoredLease } from './lease-store.js';
import { parseNetworkConfig } from './network-config.js';
import { planAcquire } from './plan-acquire.js';

const config = parseNetworkConfig('{"Network":"10.244.0.0/22","SubnetLen":24}');
const ip = (t: string): IpAddress => parseIp(t) as IpAddress;
const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
const lease = (subnet: string, publicIp: string, ipv6?: { subnet: string; publicIp: string }): StoredLease => ({
  subnet: cidr(subnet),
  ...(ipv6 ? { ipv6Subnet: cidr(ipv6.subnet) } : {}),
  attrs: { publicIp: ip(publicIp), backendType: 'vxlan', ...(ipv6 ? { publicIpv6: ip(ipv6.publicIp) } : {}) },
  key: subnet,
  modRevision: 5,
  etcdLease: '1',
});
const node = (publicIp: string, publicIpv6?: string) => ({ publicIp: ip(publicIp), ...(publicIpv6 ? { publicIpv6: ip(publicIpv6) } : {}) });

describe('planAcquire', () => {
  it('reuses the lease of the same PublicIP first', () => {
    const plan = planAcquire(
      config,
      [lease('10.244.2.0/24', '172.30.1.2')],
      node('172.30.1.2'),
      { subnet: cidr('10.244.3.0/24') },
      firstFree,
    );
    expect(plan.kind === 'reuse' && plan.lease.subnet.text).toBe('10.244.2.0/24');
  });
  it('then the previous subnet from subnet.env when free and leasable', () => {
    expect(planAcquire(config, [], node('172.30.1.2'), { subnet: cidr('10.244.3.0/24') }, firstFree)).toMatchObject({
      kind: 'create',
      how: 'previous',
      subnets: { subnet: { text: '10.244.3.0/24' } },
    });
    expect(planAcquire(config, [], node('172.30.1.2'), { subnet: cidr('10.244.0.0/24') }, firstFree)).toMatchObject({
      kind: 'create',
      how: 'new',
      subnets: { subnet: { text: '10.244.1.0/24' } },
    });
    expect(
      planAcquire(config, [lease('10.244.3.0/24', '172.30.1.9')], node('172.30.1.2'), { subnet: cidr('10.244.3.0/24') }, firstFree),
    ).toMatchObject({
      how: 'new',
      subnets: { subnet: { text: '10.244.1.0/24' } },
    });
  });
  it('reports a full network with the number of leasable subnets', () => {
    const all = ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'].map((s, i) => lease(s, `172.30.1.${i + 10}`));
    expect(planAcquire(config, all, node('172.30.1.2'), undefined, firstFree)).toEqual({ kind: 'full', family: 4, leasable: 3n });
  });
});

describe('planAcquire, IPv6', () => {
  const dual = parseNetworkConfig(
    '{"Network":"10.244.0.0/22","EnableIPv6":true,"IPv6Network":"fd00:10:244::/62","Backend":{"Type":"vxlan"}}',
  );
  const only = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/62","Backend":{"Type":"vxlan"}}');

  it('picks one free subnet per family, each on its own', () => {
    const taken = [lease('10.244.1.0/24', '172.30.1.9', { subnet: 'fd00:10:244:2::/64', publicIp: 'fd00:172:30::9' })];
    expect(planAcquire(dual, taken, node('172.30.1.2', 'fd00:172:30::2'), undefined, firstFree)).toMatchObject({
      kind: 'create',
      how: 'new',
      subnets: { subnet: { text: '10.244.2.0/24' }, ipv6Subnet: { text: 'fd00:10:244:1::/64' } },
    });
  });

  it('reuses a dual-stack lease only when its IPv6 part fits the config; an IPv4-only lease does not', () => {
    const v4only = [lease('10.244.2.0/24', '172.30.1.2')];
    expect(planAcquire(dual, v4only, node('172.30.1.2', 'fd00:172:30::2'), undefined, firstFree).kind).toBe('create');
    const both = [lease('10.244.2.0/24', '172.30.1.2', { subnet: 'fd00:10:244:3::/64', publicIp: 'fd00:172:30::2' })];
    expect(planAcquire(dual, both, node('172.30.1.2', 'fd00:172:30::2'), undefined, firstFree).kind).toBe('reuse');
  });

  it('takes the previous pair from subnet.env unless either half is taken', () => {
    const previous = { subnet: cidr('10.244.3.0/24'), ipv6Subnet: cidr('fd00:10:244:3::/64') };
    expect(planAcquire(dual, [], node('172.30.1.2', 'fd00:172:30::2'), previous, firstFree)).toMatchObject({ how: 'previous' });
    const sixTaken = [lease('10.244.1.0/24', '172.30.1.9', { subnet: 'fd00:10:244:3::/64', publicIp: 'fd00:172:30::9' })];
    expect(planAcquire(dual, sixTaken, node('172.30.1.2', 'fd00:172:30::2'), previous, firstFree)).toMatchObject({ how: 'new' });
  });

  it("IPv6-only: flannel's zero IPv4 part, the node's own lease found by PublicIPv6", () => {
    const other = lease('0.0.0.0/0', '0.0.0.0', { subnet: 'fd00:10:244:1::/64', publicIp: 'fd00:172:30::9' });
    const plan = planAcquire(only, [other], node('0.0.0.0', 'fd00:172:30::2'), undefined, firstFree);
    expect(plan).toMatchObject({ kind: 'create', subnets: { subnet: { text: '0.0.0.0/0' }, ipv6Subnet: { text: 'fd00:10:244:2::/64' } } });
    expect(planAcquire(only, [other], node('0.0.0.0', 'fd00:172:30::9'), undefined, firstFree).kind).toBe('reuse');
  });

  it('reports which family is full', () => {
    const all = [1, 2, 3].map((i) =>
      lease(`10.244.${i}.0/24`, `172.30.1.${i + 10}`, { subnet: `fd00:10:244:${i}::/64`, publicIp: `fd00::${i}` }),
    );
    expect(
      planAcquire(
        only,
        all.map((l) => ({ ...l, subnet: cidr('0.0.0.0/0') })),
        node('0.0.0.0', 'fd00::9'),
        undefined,
        firstFree,
      ),
    ).toEqual({
      kind: 'full',
      family: 6,
      leasable: 3n,
    });
  });
});
