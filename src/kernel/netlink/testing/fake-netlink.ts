import { KeelError } from '../../../api/errors.js';
import { cidrContains, parseCidr, type IpAddress } from '../../../api/ip.js';
import {
  describeRoute,
  type KernelAddress,
  type KernelFdb,
  type KernelNeighbor,
  type KernelRoute,
  type LinkInfo,
  type NetlinkPort,
  type VxlanSpec,
} from '../netlink-port.js';

/** IFNAMSIZ is 16 including the NUL. */
const MAX_IFNAME = 15;
const MIN_MTU = 68;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * The overlay's kernel in memory, for unit tests: links, addresses of both families,
 * main-table routes, neighbours and VXLAN FDB entries, refusing what the
 * kernel refuses with the real port's error (KEEL_NETLINK_FAILED and the
 * errno name): a second link of one name, a device that does not exist, a
 * gateway with no connected route unless onlink, a delete of an entry that
 * is not there, FDB entries on a non-VXLAN device. Every change tells onChange listeners, as the kernel's
 * multicast groups do.
 */
export class FakeNetlink implements NetlinkPort {
  private readonly linkTable = new Map<number, LinkInfo>();
  private addressTable: KernelAddress[] = [];
  private routeTable: KernelRoute[] = [];
  private neighTable: KernelNeighbor[] = [];
  private fdbTable: KernelFdb[] = [];
  private readonly listeners = new Set<() => void>();
  private nextIndex = 1;
  private closed = false;

  /** Adds a device as the test's node already has it (an underlay NIC, or a VXLAN device made earlier). */
  addLink(link: Partial<LinkInfo> & { name: string }): LinkInfo {
    const index = link.index ?? this.nextIndex;
    this.check(`add link ${link.name}`, [
      [this.linkTable.has(index), 'EEXIST', `index ${index} is taken`],
      [this.byName(link.name) !== undefined, 'EEXIST', `a link named ${link.name} exists`],
      [link.name.length > MAX_IFNAME || link.name === '', 'EINVAL', `bad name ${link.name}`],
    ]);
    const made: LinkInfo = { mtu: 1500, mac: macOf(index), up: true, ...link, index };
    this.linkTable.set(index, made);
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    this.changed();
    return made;
  }

  async links(): Promise<LinkInfo[]> {
    this.open('list links');
    return [...this.linkTable.values()].map((l) => ({ ...l }));
  }

  async addresses(): Promise<KernelAddress[]> {
    this.open('list addresses');
    return [...this.addressTable];
  }

  async createVxlan(spec: VxlanSpec): Promise<void> {
    const what = `create vxlan ${spec.name}`;
    this.open(what);
    this.check(what, [
      [this.byName(spec.name) !== undefined, 'EEXIST', 'File exists'],
      [!this.linkTable.has(spec.underlayIndex), 'ENODEV', `no underlay device ${spec.underlayIndex}`],
      [spec.vni < 0 || spec.vni >= 1 << 24, 'ERANGE', `VNI ${spec.vni} out of range`],
      [spec.mtu < MIN_MTU, 'EINVAL', `MTU ${spec.mtu} below ${MIN_MTU}`],
    ]);
    this.addLink({ name: spec.name, mtu: spec.mtu, up: false, vxlan: { vni: spec.vni, local: spec.local, port: spec.port } });
  }

  async setLink(index: number, up: boolean, mtu?: number): Promise<void> {
    const what = `set link ${index}`;
    const link = this.link(what, index);
    this.check(what, [[mtu !== undefined && mtu < MIN_MTU, 'EINVAL', `MTU ${mtu} below ${MIN_MTU}`]]);
    this.linkTable.set(index, { ...link, up, ...(mtu ? { mtu } : {}) });
    this.changed();
  }

  async deleteLink(index: number): Promise<void> {
    this.link(`delete link ${index}`, index);
    // The kernel takes the device's addresses, routes, neighbours and FDB entries with it.
    this.linkTable.delete(index);
    this.addressTable = this.addressTable.filter((a) => a.ifindex !== index);
    this.routeTable = this.routeTable.filter((r) => r.oif !== index);
    this.neighTable = this.neighTable.filter((n) => n.ifindex !== index);
    this.fdbTable = this.fdbTable.filter((f) => f.ifindex !== index);
    this.changed();
  }

  async addAddress(ifindex: number, address: IpAddress, prefixLength: number): Promise<void> {
    const what = `add address ${address.text}/${prefixLength}`;
    this.link(what, ifindex);
    this.check(what, [[prefixLength < 0 || prefixLength > (address.family === 4 ? 32 : 128), 'EINVAL', 'bad prefix length']]);
    this.addressTable = this.addressTable
      .filter((a) => !(a.ifindex === ifindex && a.address.text === address.text))
      .concat({ ifindex, address, prefixLength });
    this.changed();
  }

  async routes(): Promise<KernelRoute[]> {
    this.open('list routes');
    return [...this.connectedRoutes(), ...this.routeTable];
  }

  async addRoute(r: KernelRoute): Promise<void> {
    const what = `add route ${describeRoute(r)}`;
    this.open(what);
    const gateway = r.gateway;
    this.check(what, [
      [r.oif !== 0 && !this.linkTable.has(r.oif), 'ENODEV', `no device ${r.oif}`],
      [r.onlink && r.oif === 0, 'EINVAL', 'onlink needs a device'],
      [
        gateway !== undefined &&
          !r.onlink &&
          !this.connectedRoutes().some((c) => (r.oif === 0 || c.oif === r.oif) && cidrContains(c.dst, gateway)),
        'ENETUNREACH',
        'Nexthop has invalid gateway',
      ],
    ]);
    // NLM_F_REPLACE: one route per destination in the main table.
    this.routeTable = this.routeTable.filter((x) => x.dst.text !== r.dst.text).concat(r);
    this.changed();
  }

  async delRoute(r: KernelRoute): Promise<void> {
    const what = `delete route ${describeRoute(r)}`;
    this.open(what);
    // The kernel matches the destination and whichever of gateway, device and protocol the request names.
    const i = this.routeTable.findIndex(
      (x) =>
        x.dst.text === r.dst.text &&
        (!r.gateway || x.gateway?.text === r.gateway.text) &&
        (!r.oif || x.oif === r.oif) &&
        (!r.protocol || x.protocol === r.protocol),
    );
    this.check(what, [[i < 0, 'ESRCH', 'No such process']]);
    this.routeTable.splice(i, 1);
    this.changed();
  }

  async neighbors(ifindex: number): Promise<KernelNeighbor[]> {
    this.open('list neighbours');
    return this.neighTable.filter((n) => n.ifindex === ifindex);
  }

  async addNeighbor(n: KernelNeighbor): Promise<void> {
    const what = `add neighbour ${n.ip.text}`;
    this.link(what, n.ifindex);
    this.check(what, [[!MAC.test(n.mac), 'EINVAL', `bad MAC ${n.mac}`]]);
    this.neighTable = this.neighTable.filter((x) => !(x.ifindex === n.ifindex && x.ip.text === n.ip.text)).concat(n);
    this.changed();
  }

  async delNeighbor(n: KernelNeighbor): Promise<void> {
    const what = `delete neighbour ${n.ip.text}`;
    this.link(what, n.ifindex);
    const before = this.neighTable.length;
    this.neighTable = this.neighTable.filter((x) => !(x.ifindex === n.ifindex && x.ip.text === n.ip.text));
    this.check(what, [[this.neighTable.length === before, 'ENOENT', 'No such file or directory']]);
    this.changed();
  }

  async fdb(ifindex: number): Promise<KernelFdb[]> {
    this.open('list fdb');
    return this.fdbTable.filter((f) => f.ifindex === ifindex);
  }

  async addFdb(f: KernelFdb): Promise<void> {
    const what = `add fdb ${f.mac}`;
    const link = this.link(what, f.ifindex);
    this.check(what, [
      [link.vxlan === undefined, 'EOPNOTSUPP', `${link.name} is not a VXLAN device`],
      [!MAC.test(f.mac), 'EINVAL', `bad MAC ${f.mac}`],
      // NLM_F_APPEND adds a destination; the same (MAC, destination) twice is refused.
      [this.fdbTable.some((x) => x.ifindex === f.ifindex && x.mac === f.mac && x.dst.text === f.dst.text), 'EEXIST', 'File exists'],
    ]);
    this.fdbTable.push(f);
    this.changed();
  }

  async delFdb(f: KernelFdb): Promise<void> {
    const what = `delete fdb ${f.mac}`;
    this.link(what, f.ifindex);
    const before = this.fdbTable.length;
    this.fdbTable = this.fdbTable.filter((x) => !(x.ifindex === f.ifindex && x.mac === f.mac && x.dst.text === f.dst.text));
    this.check(what, [[this.fdbTable.length === before, 'ENOENT', 'No such file or directory']]);
    this.changed();
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
  }

  /** The kernel's proto-kernel routes for each address's prefix (what `ip route` shows as `proto kernel scope link`). */
  private connectedRoutes(): KernelRoute[] {
    return this.addressTable
      .filter((a) => this.linkTable.get(a.ifindex)?.up)
      .flatMap((a) => {
        const dst = prefixOf(a.address, a.prefixLength);
        return dst ? [{ dst, oif: a.ifindex, onlink: false, protocol: 2 }] : [];
      });
  }

  private byName(name: string): LinkInfo | undefined {
    return [...this.linkTable.values()].find((l) => l.name === name);
  }

  private link(what: string, index: number): LinkInfo {
    this.open(what);
    const link = this.linkTable.get(index);
    if (!link) throw failure(what, 'ENODEV', `no device ${index}`);
    return link;
  }

  private open(what: string): void {
    if (this.closed) throw failure(what, 'EBADF', 'the port is closed');
  }

  private check(what: string, rules: readonly (readonly [boolean, string, string])[]): void {
    for (const [bad, errno, text] of rules) if (bad) throw failure(what, errno, text);
  }

  private changed(): void {
    // Kernel notifications arrive after the request returns, to those subscribed when it changed.
    const listeners = [...this.listeners];
    setImmediate(() => {
      for (const l of listeners) if (this.listeners.has(l)) l();
    });
  }
}

function failure(what: string, errno: string, text: string): KeelError {
  return new KeelError('KEEL_NETLINK_FAILED', `${what}: ${errno} ${text}`, { subject: 'netlink' });
}

function macOf(index: number): string {
  return `02:00:00:00:${((index >> 8) & 0xff).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
}

function prefixOf(address: IpAddress, prefixLength: number): KernelRoute['dst'] | undefined {
  return parseCidr(`${address.text}/${prefixLength}`);
}
