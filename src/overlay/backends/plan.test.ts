import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../../api/ip.js';
import { vxlanBackendData, type Lease } from '../lease.js';
import { describeRoute } from '../../kernel/netlink/netlink-port.js';
import { planHostGw } from './plan-host-gw.js';
import { planVxlan } from './plan-vxlan.js';

/* Node 172.30.1.11 holds 10.244.1.0/24; flannel.1 is ifindex 9, eth0 ifindex 2 on 172.30.1.0/24. */
const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
const ip = (t: string): IpAddress => parseIp(t) as IpAddress;
const own = { subnet: cidr('10.244.1.0/24') };
const vx = (subnet: string, publicIp: string, mac: string, vni = 1): Lease => ({
  subnet: cidr(subnet),
  attrs: { publicIp: ip(publicIp), backendType: 'vxlan', backendData: vxlanBackendData({ vni, vtepMac: mac }) },
});
const ctx = { ifindex: { 4: 9 }, vni: 1, underlayIndex: 2, underlayPrefixes: [cidr('172.30.1.0/24')], directRouting: false };

describe('planVxlan', () => {
  it('wants neighbour, FDB and onlink route per remote lease, sorted, never its own', () => {
    const plan = planVxlan(
      [
        vx('10.244.3.0/24', '172.30.1.13', 'aa:00:00:00:00:03'),
        vx('10.244.1.0/24', '172.30.1.11', 'aa:00:00:00:00:01'),
        vx('10.244.2.0/24', '172.30.9.12', 'AA:00:00:00:00:02'),
      ],
      own,
      ctx,
    );
    expect(plan.routes.map(describeRoute)).toEqual([
      '10.244.2.0/24 via 10.244.2.0 dev#9 onlink',
      '10.244.3.0/24 via 10.244.3.0 dev#9 onlink',
    ]);
    expect(plan.neighbors.map((n) => `${n.ip.text} ${n.mac}`)).toEqual(['10.244.2.0 aa:00:00:00:00:02', '10.244.3.0 aa:00:00:00:00:03']);
    expect(plan.fdb.map((f) => `${f.mac} ${f.dst.text}`)).toEqual(['aa:00:00:00:00:02 172.30.9.12', 'aa:00:00:00:00:03 172.30.1.13']);
  });

  it('uses plain routes to same-segment nodes with DirectRouting', () => {
    const plan = planVxlan(
      [vx('10.244.3.0/24', '172.30.1.13', 'aa:00:00:00:00:03'), vx('10.244.2.0/24', '172.30.9.12', 'aa:00:00:00:00:02')],
      own,
      { ...ctx, directRouting: true },
    );
    expect(plan.routes.map(describeRoute)).toEqual(['10.244.2.0/24 via 10.244.2.0 dev#9 onlink', '10.244.3.0/24 via 172.30.1.13 dev#2']);
    expect(plan.fdb).toHaveLength(1);
  });

  it('refuses leases it cannot serve, one by one', () => {
    const hostGw: Lease = { subnet: cidr('10.244.4.0/24'), attrs: { publicIp: ip('172.30.1.14'), backendType: 'host-gw' } };
    const plan = planVxlan(
      [hostGw, vx('10.244.5.0/24', '172.30.1.15', 'aa:00:00:00:00:05', 2), vx('10.244.6.0/24', '172.30.1.16', 'aa:00:00:00:00:06')],
      own,
      ctx,
    );
    expect(plan.refused).toEqual([
      { subnet: '10.244.4.0/24', reason: 'backend host-gw is not vxlan' },
      { subnet: '10.244.5.0/24', reason: "VNI 2 is not this node's 1" },
    ]);
    expect(plan.routes).toHaveLength(1);
  });
});

describe('planHostGw', () => {
  it('routes each subnet via its node, refusing nodes off the segment', () => {
    const l = (s: string, p: string): Lease => ({ subnet: cidr(s), attrs: { publicIp: ip(p), backendType: 'host-gw' } });
    const plan = planHostGw([l('10.244.2.0/24', '172.30.1.12'), l('10.244.3.0/24', '172.30.2.13')], own, {
      underlayIndex: 2,
      underlayPrefixes: [cidr('172.30.1.0/24')],
      families: new Set([4 as const]),
    });
    expect(plan.routes.map(describeRoute)).toEqual(['10.244.2.0/24 via 172.30.1.12 dev#2']);
    expect(plan.refused).toEqual([
      { subnet: '10.244.3.0/24', reason: 'host-gw needs one L2 segment: 172.30.2.13 is outside 172.30.1.0/24' },
    ]);
  });
});

/*
 * Dual-stack: node fd00:172:30::11 holds 10.244.1.0/24 & fd00:10:244:1::/64; flannel.1 is ifindex 9,
 * flannel-v6.1 ifindex 10, eth0 ifindex 2 on 172.30.1.0/24 and fd00:172:30::/64.
 */
const dual = (n: number, publicIp: string, publicIpv6: string | undefined, mac6?: string): Lease => ({
  subnet: cidr(`10.244.${n}.0/24`),
  ipv6Subnet: cidr(`fd00:10:244:${n}::/64`),
  attrs: {
    publicIp: ip(publicIp),
    backendType: 'vxlan',
    backendData: vxlanBackendData({ vni: 1, vtepMac: `aa:00:00:00:00:0${n}` }),
    ...(publicIpv6 ? { publicIpv6: ip(publicIpv6) } : {}),
    ...(mac6 ? { backendV6Data: vxlanBackendData({ vni: 1, vtepMac: mac6 }) } : {}),
  },
});
const own6 = { subnet: cidr('10.244.1.0/24'), ipv6Subnet: cidr('fd00:10:244:1::/64') };
const prefixes = [cidr('172.30.1.0/24'), cidr('fd00:172:30::/64')];

describe('IPv6 halves of leases', () => {
  it('vxlan: neighbour, FDB and onlink route on flannel-v6.1 toward PublicIPv6, beside the IPv4 ones', () => {
    const plan = planVxlan(
      [dual(2, '172.30.1.12', 'fd00:172:30::12', 'bb:00:00:00:00:02'), dual(1, '172.30.1.11', 'fd00:172:30::11', 'bb:00:00:00:00:01')],
      own6,
      { ...ctx, ifindex: { 4: 9, 6: 10 }, underlayPrefixes: prefixes },
    );
    expect(plan.routes.map(describeRoute)).toEqual([
      '10.244.2.0/24 via 10.244.2.0 dev#9 onlink',
      'fd00:10:244:2::/64 via fd00:10:244:2:: dev#10 onlink',
    ]);
    expect(plan.neighbors.map((n) => `${n.ifindex} ${n.ip.text} ${n.mac}`)).toEqual([
      '9 10.244.2.0 aa:00:00:00:00:02',
      '10 fd00:10:244:2:: bb:00:00:00:00:02',
    ]);
    expect(plan.fdb.map((f) => `${f.ifindex} ${f.mac} ${f.dst.text}`)).toEqual([
      '9 aa:00:00:00:00:02 172.30.1.12',
      '10 bb:00:00:00:00:02 fd00:172:30::12',
    ]);
  });

  it('vxlan: an IPv6-only lease (0.0.0.0/0 IPv4 part) gets IPv6 entries only; a half without PublicIPv6 or BackendV6Data is refused', () => {
    const only: Lease = { ...dual(3, '0.0.0.0', 'fd00:172:30::13', 'bb:00:00:00:00:03'), subnet: cidr('0.0.0.0/0') };
    const plan = planVxlan([only, dual(4, '172.30.1.14', undefined), dual(5, '172.30.1.15', 'fd00:172:30::15')], own6, {
      ...ctx,
      ifindex: { 6: 10 },
      underlayPrefixes: prefixes,
    });
    expect(plan.routes.map(describeRoute)).toEqual(['fd00:10:244:3::/64 via fd00:10:244:3:: dev#10 onlink']);
    expect(plan.refused).toEqual([
      { subnet: 'fd00:10:244:4::/64', reason: 'the lease has no PublicIPv6 for its IPv6 subnet' },
      { subnet: 'fd00:10:244:5::/64', reason: 'BackendV6Data has no VtepMAC' },
    ]);
  });

  it('host-gw: `<IPv6 subnet> via <PublicIPv6>` on the underlay; IPv4 halves only when IPv4 is enabled', () => {
    const plan = planHostGw([dual(2, '172.30.1.12', 'fd00:172:30::12'), dual(3, '172.30.1.13', 'fd00:99::13')], own6, {
      underlayIndex: 2,
      underlayPrefixes: prefixes,
      families: new Set([6 as const]),
    });
    expect(plan.routes.map(describeRoute)).toEqual(['fd00:10:244:2::/64 via fd00:172:30::12 dev#2']);
    expect(plan.refused).toEqual([
      { subnet: 'fd00:10:244:3::/64', reason: 'host-gw needs one L2 segment: fd00:99::13 is outside fd00:172:30::/64' },
    ]);
  });
});
