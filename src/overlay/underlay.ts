import { ConfigError } from '../api/errors.js';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import type { KernelAddress, LinkInfo, NetlinkPort } from '../kernel/netlink/netlink-port.js';

export interface Underlay {
  link: LinkInfo;
  /** The IPv4 address to advertise (flannel's PublicIP); undefined when the interface has none and none was given. */
  publicIp: IpAddress | undefined;
  /** The IPv6 address to advertise (flannel's PublicIPv6): --public-ipv6, or the interface's first global one. */
  publicIpv6: IpAddress | undefined;
  /** The connected prefixes of those addresses: this node's L2 segment, per family. */
  prefixes: Cidr[];
}

export interface UnderlayFlags {
  iface?: string | undefined;
  publicIp?: string | undefined;
  publicIpv6?: string | undefined;
}

const LINK_LOCAL_V6 = parseCidr('fe80::/10') as Cidr;

/**
 * flannel's choice of the underlay: `--iface` names the interface,
 * `--public-ip`/`--public-ipv6` the addresses to advertise; without them,
 * the interface of the default route (IPv4's, else IPv6's) and its first
 * address of each family (IPv6: not link-local).
 */
export async function resolveUnderlay(port: NetlinkPort, flags: UnderlayFlags = {}): Promise<Underlay> {
  const links = await port.links();
  const addrs = await port.addresses();
  const wanted = flagAddress(flags.publicIp, '--public-ip', 4);
  const wanted6 = flagAddress(flags.publicIpv6, '--public-ipv6', 6);

  let link: LinkInfo | undefined;
  if (flags.iface) {
    link = links.find((l) => l.name === flags.iface);
    if (!link) throw new ConfigError('--iface', `no interface named ${flags.iface}`);
  } else {
    const a = addrs.find((x) => x.address.text === wanted?.text || x.address.text === wanted6?.text);
    link = a ? links.find((l) => l.index === a.ifindex) : undefined;
  }
  if (!link) {
    const defaults = (await port.routes()).filter((r) => r.dst.prefixLength === 0).sort((a, b) => a.dst.family - b.dst.family);
    link = defaults.map((d) => links.find((l) => l.index === d.oif)).find((l) => l !== undefined);
    if (!link) throw new ConfigError('underlay', 'no default route to choose the underlay interface from: pass --iface or --public-ip');
  }
  const own = addrs.filter((a) => a.ifindex === link.index && !(a.address.family === 6 && isLinkLocal(a.address)));
  const pick = (family: 4 | 6, want: IpAddress | undefined): KernelAddress | undefined =>
    (want && own.find((a) => a.address.text === want.text)) ?? own.find((a) => a.address.family === family);
  const a4 = pick(4, wanted);
  const a6 = pick(6, wanted6);
  const prefixes = [a4, a6].flatMap((a) => (a ? [parseCidr(`${a.address.text}/${a.prefixLength}`) as Cidr] : []));
  return { link, publicIp: wanted ?? a4?.address, publicIpv6: wanted6 ?? a6?.address, prefixes };
}

function flagAddress(text: string | undefined, flag: string, family: 4 | 6): IpAddress | undefined {
  if (text === undefined) return undefined;
  const ip = parseIp(text);
  if (ip?.family !== family) throw new ConfigError(flag, `${JSON.stringify(text)} is not an IPv${family} address`);
  return ip;
}

function isLinkLocal(ip: IpAddress): boolean {
  return ip.value >= LINK_LOCAL_V6.first && ip.value < LINK_LOCAL_V6.first + LINK_LOCAL_V6.size;
}
