import { ConfigError } from '../api/errors.js';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import type { LinkInfo, NetlinkPort } from '../kernel/netlink/netlink-port.js';

export interface Underlay {
  link: LinkInfo;
  publicIp: IpAddress;
  /** The connected prefix of the interface's address: this node's L2 segment. */
  prefix: Cidr;
}

/**
 * flannel's choice of the underlay: `--iface` names the interface, `--public-ip`
 * the address to advertise; without either, the interface of the default
 * route and its first IPv4 address.
 */
export async function resolveUnderlay(port: NetlinkPort, iface?: string, publicIp?: string): Promise<Underlay> {
  const links = await port.links();
  const addrs = await port.addresses();
  const wanted = publicIp !== undefined ? parseIp(publicIp) : undefined;
  if (publicIp !== undefined && (!wanted || wanted.family !== 4))
    throw new ConfigError('--public-ip', `${JSON.stringify(publicIp)} is not an IPv4 address`);

  let link: LinkInfo | undefined;
  if (iface) {
    link = links.find((l) => l.name === iface);
    if (!link) throw new ConfigError('--iface', `no interface named ${iface}`);
  } else if (wanted) {
    const a = addrs.find((x) => x.address.text === wanted.text);
    link = a ? links.find((l) => l.index === a.ifindex) : undefined;
  }
  if (!link) {
    const def = (await port.routes()).find((r) => r.dst.prefixLength === 0);
    link = def ? links.find((l) => l.index === def.oif) : undefined;
    if (!link) throw new ConfigError('underlay', 'no default route to choose the underlay interface from: pass --iface or --public-ip');
  }
  const own = addrs.filter((a) => a.ifindex === link.index);
  const addr = (wanted && own.find((a) => a.address.text === wanted.text)) ?? own[0];
  if (!addr) throw new ConfigError(`interface ${link.name}`, 'has no IPv4 address');
  const prefix = parseCidr(`${addr.address.text}/${addr.prefixLength}`) as Cidr;
  return { link, publicIp: wanted ?? addr.address, prefix };
}
