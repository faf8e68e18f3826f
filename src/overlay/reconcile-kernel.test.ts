import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { createLogger } from '../observe/log.js';
import type { DesiredKernel } from './backends/backend.js';
import { describeRoute, KEEL_ROUTE_PROTOCOL, type KernelFdb, type KernelNeighbor, type KernelRoute, type NetlinkPort } from '../kernel/netlink/netlink-port.js';
import { reconcileKernel } from './reconcile-kernel.js';

const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
const ip = (t: string): IpAddress => parseIp(t) as IpAddress;

/** Holds kernel tables in memory; refuses to delete what is not there, as the kernel does. */
class TablePort implements Pick<NetlinkPort, 'routes' | 'addRoute' | 'delRoute' | 'neighbors' | 'addNeighbor' | 'delNeighbor' | 'fdb' | 'addFdb' | 'delFdb'> {
  routeTable: KernelRoute[] = [];
  neigh: KernelNeighbor[] = [];
  fdbTable: KernelFdb[] = [];
  async routes() { return [...this.routeTable]; }
  async addRoute(r: KernelRoute) { this.routeTable = this.routeTable.filter((x) => x.dst.text !== r.dst.text).concat(r); }
  async delRoute(r: KernelRoute) {
    const i = this.routeTable.findIndex((x) => describeRoute(x) === describeRoute(r));
    if (i < 0) throw new Error(`ESRCH ${describeRoute(r)}`);
    this.routeTable.splice(i, 1);
  }
  async neighbors(ifindex: number) { return this.neigh.filter((n) => n.ifindex === ifindex); }
  async addNeighbor(n: KernelNeighbor) { this.neigh = this.neigh.filter((x) => x.ip.text !== n.ip.text).concat(n); }
  async delNeighbor(n: KernelNeighbor) { this.neigh = this.neigh.filter((x) => x.ip.text !== n.ip.text); }
  async fdb(ifindex: number) { return this.fdbTable.filter((f) => f.ifindex === ifindex); }
  async addFdb(f: KernelFdb) { this.fdbTable.push(f); }
  async delFdb(f: KernelFdb) { this.fdbTable = this.fdbTable.filter((x) => !(x.mac === f.mac && x.dst.text === f.dst.text)); }
}

const route = (dst: string, gw: string, protocol = KEEL_ROUTE_PROTOCOL): KernelRoute => ({ dst: cidr(dst), gateway: ip(gw), oif: 9, onlink: true, protocol });
const scope = { network: cidr('10.244.0.0/16'), ownedIfindex: 9 };
const log = createLogger('test');

describe('reconcileKernel', () => {
  it('adds what is missing, removes what no lease wants, leaves foreign routes alone', async () => {
    const port = new TablePort();
    port.routeTable = [
      route('10.244.2.0/24', '10.244.2.0'),
      route('10.244.9.0/24', '10.244.9.0'),
      route('10.244.50.0/24', '172.30.1.1', 3),
      route('192.168.0.0/24', '172.30.1.1', KEEL_ROUTE_PROTOCOL),
    ];
    port.neigh = [{ ifindex: 9, ip: ip('10.244.9.0'), mac: 'aa:00:00:00:00:09', permanent: true }, { ifindex: 9, ip: ip('10.244.77.5'), mac: 'aa:00:00:00:00:77', permanent: false }];
    port.fdbTable = [{ ifindex: 9, mac: 'aa:00:00:00:00:09', dst: ip('172.30.1.19') }];
    const desired: DesiredKernel = {
      routes: [route('10.244.2.0/24', '10.244.2.0'), route('10.244.3.0/24', '10.244.3.0'), route('10.244.50.0/24', '10.244.50.0')],
      neighbors: [{ ifindex: 9, ip: ip('10.244.3.0'), mac: 'aa:00:00:00:00:03', permanent: true }],
      fdb: [{ ifindex: 9, mac: 'aa:00:00:00:00:03', dst: ip('172.30.1.13') }],
      refused: [],
    };
    const res = await reconcileKernel(port as unknown as NetlinkPort, desired, scope, log);
    expect(port.routeTable.map(describeRoute).sort()).toEqual([
      '10.244.2.0/24 via 10.244.2.0 dev#9 onlink',
      '10.244.3.0/24 via 10.244.3.0 dev#9 onlink',
      '10.244.50.0/24 via 172.30.1.1 dev#9 onlink',
      '192.168.0.0/24 via 172.30.1.1 dev#9 onlink',
    ]);
    expect(port.neigh.map((n) => n.ip.text).sort()).toEqual(['10.244.3.0', '10.244.77.5']);
    expect(port.fdbTable.map((f) => f.dst.text)).toEqual(['172.30.1.13']);
    expect(res).toEqual({ added: 3, removed: 3 });
    expect(await reconcileKernel(port as unknown as NetlinkPort, desired, scope, log)).toEqual({ added: 0, removed: 0 });
  });
});
