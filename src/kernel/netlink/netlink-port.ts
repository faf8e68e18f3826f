import { createRtNetlink, FlagsNew, type RtNetlinkSocket } from 'netlink';
import { KeelError } from '../../api/errors.js';
import { ipFromValue, parseCidr, type Cidr, type IpAddress } from '../../api/ip.js';
import { AF_INET, AF_INET6 } from '../address-family.js';
import { bytes, encodeVxlanLinkinfo, ipOf, parseVxlanInfo, type VxlanInfo } from './netlink-attrs.js';

export type { VxlanInfo };

/** RTM protocol number marking routes keel's overlay installed: routes with any other protocol are never touched. */
export const KEEL_ROUTE_PROTOCOL = 0x6b;
const MAIN_TABLE = 254;
const RTNH_F_ONLINK = 4;
const FAMILIES = [AF_INET, AF_INET6] as const;
const afOf = (ip: { family: 4 | 6 }): number => (ip.family === 4 ? AF_INET : AF_INET6);
const AF_BRIDGE = 7;

export interface LinkInfo {
  index: number;
  name: string;
  mtu: number;
  mac: string;
  up: boolean;
  vxlan?: VxlanInfo;
}
export interface KernelAddress {
  ifindex: number;
  address: IpAddress;
  prefixLength: number;
}
export interface KernelRoute {
  dst: Cidr;
  gateway?: IpAddress;
  oif: number;
  onlink: boolean;
  protocol: number;
}
export interface KernelNeighbor {
  ifindex: number;
  ip: IpAddress;
  mac: string;
  permanent: boolean;
}
export interface KernelFdb {
  ifindex: number;
  mac: string;
  dst: IpAddress;
}
export interface VxlanSpec {
  name: string;
  vni: number;
  local: IpAddress;
  underlayIndex: number;
  port: number;
  mtu: number;
}

/** The overlay's kernel side effects, small enough that a backend's reconcile reads as a diff. */
export interface NetlinkPort {
  links(): Promise<LinkInfo[]>;
  addresses(): Promise<KernelAddress[]>;
  createVxlan(spec: VxlanSpec): Promise<void>;
  setLink(index: number, up: boolean, mtu?: number, txqlen?: number): Promise<void>;
  deleteLink(index: number): Promise<void>;
  addAddress(ifindex: number, address: IpAddress, prefixLength: number): Promise<void>;
  routes(): Promise<KernelRoute[]>;
  addRoute(r: KernelRoute): Promise<void>;
  delRoute(r: KernelRoute): Promise<void>;
  neighbors(ifindex: number): Promise<KernelNeighbor[]>;
  addNeighbor(n: KernelNeighbor): Promise<void>;
  delNeighbor(n: KernelNeighbor): Promise<void>;
  fdb(ifindex: number): Promise<KernelFdb[]>;
  addFdb(f: KernelFdb): Promise<void>;
  delFdb(f: KernelFdb): Promise<void>;
  /** Route, neighbour and link changes made by anyone (so deleted entries can be restored). */
  onChange(fn: () => void): () => void;
  close(): void;
}

const macText = (b: Buffer | undefined): string => (b ? [...b].map((x) => x.toString(16).padStart(2, '0')).join(':') : '');
const macBytes = (m: string): Buffer => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));

/** The real port over the `netlink` package, in the process's network namespace. */
export class RtNetlinkPort implements NetlinkPort {
  private readonly sock: RtNetlinkSocket;
  private events: RtNetlinkSocket | undefined;
  private readonly listeners = new Set<() => void>();
  /** The kernel answers EBUSY to a second dump on a socket mid-dump: one request at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor() {
    this.sock = createRtNetlink();
  }

  async links(): Promise<LinkInfo[]> {
    const res = await this.call('list links', () => this.sock.getLinks());
    return res.map((m) => {
      const link: LinkInfo = {
        index: m.data.index ?? 0,
        name: m.attrs.ifname ?? '',
        mtu: m.attrs.mtu ?? 0,
        mac: macText(m.attrs.address),
        up: Boolean(m.data.flags?.up),
      };
      const vxlan = m.attrs.linkinfo ? parseVxlanInfo(m.attrs.linkinfo) : undefined;
      return vxlan ? { ...link, vxlan } : link;
    });
  }

  /** Addresses of both families, IPv4 first (IPv6 link-local ones included; the caller chooses). */
  async addresses(): Promise<KernelAddress[]> {
    const out: KernelAddress[] = [];
    for (const family of FAMILIES) {
      const res = await this.call('list addresses', () => this.sock.getAddresses({ family }));
      for (const m of res) {
        // IPv6 addresses carry only IFA_ADDRESS; IPv4 ones IFA_LOCAL (the peer's on point-to-point links in IFA_ADDRESS).
        const address = ipOf(m.attrs.local ?? m.attrs.address);
        if (address) out.push({ ifindex: m.data.index ?? 0, address, prefixLength: m.data.prefixlen ?? 32 });
      }
    }
    return out;
  }

  async createVxlan(spec: VxlanSpec): Promise<void> {
    const linkinfo = encodeVxlanLinkinfo({ vni: spec.vni, local: spec.local, port: spec.port }, spec.underlayIndex);
    await this.call(`create vxlan ${spec.name}`, () =>
      this.sock.newLink({}, { ifname: spec.name, mtu: spec.mtu, linkinfo }, { flags: FlagsNew.CREATE | FlagsNew.EXCL }),
    );
  }

  async setLink(index: number, up: boolean, mtu?: number, txqlen?: number): Promise<void> {
    const attrs = { ...(mtu ? { mtu } : {}), ...(txqlen ? { txqlen } : {}) };
    await this.call(`set link ${index}`, () => this.sock.setLink({ index, flags: up ? { up: true } : {}, change: { up: true } }, attrs));
  }

  async deleteLink(index: number): Promise<void> {
    await this.call(`delete link ${index}`, () => this.sock.delLink({ index }));
  }

  async addAddress(ifindex: number, address: IpAddress, prefixLength: number): Promise<void> {
    // IPv6: no duplicate address detection, else the address stays tentative (unusable as a source) for a second or more.
    const attrs =
      address.family === 4
        ? { local: bytes(address), address: bytes(address) }
        : { address: bytes(address), flags: { nodad: true as const } };
    await this.call(`add address ${address.text}/${prefixLength}`, () =>
      this.sock.newAddress({ family: afOf(address), prefixlen: prefixLength, index: ifindex }, attrs, {
        flags: FlagsNew.CREATE | FlagsNew.REPLACE,
      }),
    );
  }

  /** Main-table unicast routes of both families. */
  async routes(): Promise<KernelRoute[]> {
    const out: KernelRoute[] = [];
    for (const family of FAMILIES) out.push(...(await this.routesOf(family)));
    return out;
  }

  private async routesOf(family: number): Promise<KernelRoute[]> {
    const res = await this.call('list routes', () => this.sock.getRoutes({ family }));
    const out: KernelRoute[] = [];
    for (const m of res) {
      if ((m.attrs.table ?? m.data.table) !== MAIN_TABLE || (m.data.type !== 'UNICAST' && m.data.type !== 1)) continue;
      const dstIp = ipOf(m.attrs.dst) ?? ipFromValue(family === AF_INET ? 4 : 6, 0n);
      const dst = parseCidr(`${dstIp.text}/${m.data.dstLen ?? 0}`);
      if (!dst) continue;
      const gateway = ipOf(m.attrs.gateway);
      const protocol = typeof m.data.protocol === 'number' ? m.data.protocol : (PROTOCOLS[m.data.protocol ?? ''] ?? 0);
      const route: KernelRoute = { dst, oif: m.attrs.oif ?? 0, onlink: ((m.data.flags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0, protocol };
      out.push(gateway ? { ...route, gateway } : route);
    }
    return out;
  }

  async addRoute(r: KernelRoute): Promise<void> {
    await this.call(`add route ${describeRoute(r)}`, () =>
      this.sock.newRoute(routeHeader(r), routeAttrs(r), { flags: FlagsNew.CREATE | FlagsNew.REPLACE }),
    );
  }

  async delRoute(r: KernelRoute): Promise<void> {
    await this.call(`delete route ${describeRoute(r)}`, () => this.sock.delRoute({ ...routeHeader(r), scope: 'NOWHERE' }, routeAttrs(r)));
  }

  /** Neighbours (ARP and NDP) of both families on one device. */
  async neighbors(ifindex: number): Promise<KernelNeighbor[]> {
    const out: KernelNeighbor[] = [];
    for (const family of FAMILIES) {
      const res = await this.call('list neighbours', () => this.sock.getNeighbors({ family }));
      for (const m of res) {
        const ip = ipOf(m.attrs.dst);
        if (m.data.ifindex === ifindex && ip)
          out.push({ ifindex, ip, mac: macText(m.attrs.lladdr), permanent: Boolean(m.data.state?.permanent) });
      }
    }
    return out;
  }

  async addNeighbor(n: KernelNeighbor): Promise<void> {
    await this.call(`add neighbour ${n.ip.text}`, () =>
      this.sock.newNeighbor(
        { family: afOf(n.ip), ifindex: n.ifindex, state: { permanent: true } },
        { dst: bytes(n.ip), lladdr: macBytes(n.mac) },
        { flags: FlagsNew.CREATE | FlagsNew.REPLACE },
      ),
    );
  }

  async delNeighbor(n: KernelNeighbor): Promise<void> {
    await this.call(`delete neighbour ${n.ip.text}`, () =>
      this.sock.delNeighbor({ family: afOf(n.ip), ifindex: n.ifindex }, { dst: bytes(n.ip) }),
    );
  }

  async fdb(ifindex: number): Promise<KernelFdb[]> {
    const res = await this.call('list fdb', () => this.sock.getNeighbors({ family: AF_BRIDGE }));
    const out: KernelFdb[] = [];
    for (const m of res) {
      const dst = ipOf(m.attrs.dst);
      if (m.data.ifindex === ifindex && dst && m.attrs.lladdr) out.push({ ifindex, mac: macText(m.attrs.lladdr), dst });
    }
    return out;
  }

  async addFdb(f: KernelFdb): Promise<void> {
    await this.call(`add fdb ${f.mac}`, () =>
      this.sock.newNeighbor(
        { family: AF_BRIDGE, ifindex: f.ifindex, state: { permanent: true }, flags: { self: true } },
        { lladdr: macBytes(f.mac), dst: bytes(f.dst) },
        { flags: FlagsNew.CREATE | FlagsNew.APPEND },
      ),
    );
  }

  async delFdb(f: KernelFdb): Promise<void> {
    await this.call(`delete fdb ${f.mac}`, () =>
      this.sock.delNeighbor(
        { family: AF_BRIDGE, ifindex: f.ifindex, flags: { self: true } },
        { lladdr: macBytes(f.mac), dst: bytes(f.dst) },
      ),
    );
  }

  onChange(fn: () => void): () => void {
    if (!this.events) {
      const ev = createRtNetlink();
      ev.addMembership('IPV4_ROUTE');
      ev.addMembership('IPV6_ROUTE');
      ev.addMembership('NEIGH');
      ev.addMembership('LINK');
      ev.on('message', () => {
        for (const l of this.listeners) l();
      });
      this.events = ev;
    }
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.sock.socket.socket.close();
    this.events?.socket.socket.close();
    this.events = undefined;
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.attempt(what, fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async attempt<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new KeelError('KEEL_NETLINK_FAILED', `${what}: ${(err as Error).message}`, { subject: 'netlink', cause: err });
    }
  }
}

const PROTOCOLS: Record<string, number> = { REDIRECT: 1, KERNEL: 2, BOOT: 3, STATIC: 4 };

function routeHeader(r: KernelRoute) {
  return {
    family: afOf(r.dst),
    dstLen: r.dst.prefixLength,
    table: MAIN_TABLE,
    protocol: r.protocol as 4,
    scope: (r.gateway ? 'UNIVERSE' : 'LINK') as 'UNIVERSE',
    type: 'UNICAST' as const,
    flags: r.onlink ? { __unknown: RTNH_F_ONLINK } : {},
  };
}

function routeAttrs(r: KernelRoute) {
  const a: { dst: Buffer; oif?: number; gateway?: Buffer } = { dst: bytes(ipFromValue(r.dst.family, r.dst.first)) };
  if (r.oif) a.oif = r.oif;
  if (r.gateway) a.gateway = bytes(r.gateway);
  return a;
}

export function describeRoute(r: KernelRoute): string {
  return `${r.dst.text}${r.gateway ? ` via ${r.gateway.text}` : ''}${r.oif ? ` dev#${r.oif}` : ''}${r.onlink ? ' onlink' : ''}`;
}
