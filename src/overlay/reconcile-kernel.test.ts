import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { createLogger } from '../observe/log.js';
import type { DesiredKernel } from './backends/backend.js';
import { describeRoute, KEEL_ROUTE_PROTOCOL, type KernelRoute } from '../kernel/netlink/netlink-port.js';
import { FakeNetlink } from '../kernel/netlink/testing/fake-netlink.js';
import { reconcileKernel } from './reconcile-kernel.js';

const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
const ip = (t: string): IpAddress => parseIp(t) as IpAddress;

const route = (dst: string, gw: string, protocol = KEEL_ROUTE_PROTOCOL): KernelRoute => ({
  dst: cidr(dst),
  gateway: ip(gw),
  oif: 9,
  onlink: true,
  protocol,
});
const scope = { networks: [cidr('10.244.0.0/16')], ownedIfindexes: [9] };
const log = createLogger('test');

describe('reconcileKernel', () => {
  it('adds what is missing, removes what no lease wants, leaves foreign routes alone', async () => {
    const port = new FakeNetlink();
    port.addLink({ name: 'keel.1', index: 9, vxlan: { vni: 1, local: ip('172.30.1.11'), port: 8472 } });
    for (const r of [
      route('10.244.2.0/24', '10.244.2.0'),
      route('10.244.9.0/24', '10.244.9.0'),
      route('10.244.50.0/24', '172.30.1.1', 3),
      route('192.168.0.0/24', '172.30.1.1', KEEL_ROUTE_PROTOCOL),
    ])
      await port.addRoute(r);
    await port.addNeighbor({ ifindex: 9, ip: ip('10.244.9.0'), mac: 'aa:00:00:00:00:09', permanent: true });
    await port.addNeighbor({ ifindex: 9, ip: ip('10.244.77.5'), mac: 'aa:00:00:00:00:77', permanent: false });
    await port.addFdb({ ifindex: 9, mac: 'aa:00:00:00:00:09', dst: ip('172.30.1.19') });
    const desired: DesiredKernel = {
      routes: [route('10.244.2.0/24', '10.244.2.0'), route('10.244.3.0/24', '10.244.3.0'), route('10.244.50.0/24', '10.244.50.0')],
      neighbors: [{ ifindex: 9, ip: ip('10.244.3.0'), mac: 'aa:00:00:00:00:03', permanent: true }],
      fdb: [{ ifindex: 9, mac: 'aa:00:00:00:00:03', dst: ip('172.30.1.13') }],
      refused: [],
    };
    const res = await reconcileKernel(port, desired, scope, log);
    expect((await port.routes()).map(describeRoute).sort()).toEqual([
      '10.244.2.0/24 via 10.244.2.0 dev#9 onlink',
      '10.244.3.0/24 via 10.244.3.0 dev#9 onlink',
      '10.244.50.0/24 via 172.30.1.1 dev#9 onlink',
      '192.168.0.0/24 via 172.30.1.1 dev#9 onlink',
    ]);
    expect((await port.neighbors(9)).map((n) => n.ip.text).sort()).toEqual(['10.244.3.0', '10.244.77.5']);
    expect((await port.fdb(9)).map((f) => f.dst.text)).toEqual(['172.30.1.13']);
    expect(res).toEqual({ added: 3, removed: 3 });
    expect(await reconcileKernel(port, desired, scope, log)).toEqual({ added: 0, removed: 0 });
  });
});
