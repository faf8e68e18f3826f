import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../../api/ip.js';
import { vxlanBackendData, type Lease } from '../lease.js';
import { describeRoute } from '../../kernel/netlink/netlink-port.js';
import { planHostGw } from './plan-host-gw.js';
import { planVxlan } from './plan-vxlan.js';

/* Node 172.30.1.11 holds 10.244.1.0/24; flannel.1 is ifindex 9, eth0 ifindex 2 on 172.30.1.0/24. */
const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
const ip = (t: string): IpAddress => parseIp(t) as IpAddress;
const own = cidr('10.244.1.0/24');
const vx = (subnet: string, publicIp: string, mac: string, vni = 1): Lease => ({
  subnet: cidr(subnet),
  attrs: { publicIp: ip(publicIp), backendType: 'vxlan', backendData: vxlanBackendData({ vni, vtepMac: mac }) },
});
const ctx = { ifindex: 9, vni: 1, underlayIndex: 2, underlayPrefix: cidr('172.30.1.0/24'), directRouting: false };

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
      underlayPrefix: cidr('172.30.1.0/24'),
    });
    expect(plan.routes.map(describeRoute)).toEqual(['10.244.2.0/24 via 172.30.1.12 dev#2']);
    expect(plan.refused).toEqual([
      { subnet: '10.244.3.0/24', reason: 'host-gw needs one L2 segment: 172.30.2.13 is outside 172.30.1.0/24' },
    ]);
  });
});
