import { ConfigError } from '../api/errors.js';
import { cidrContains, parseCidr, parseIp, type Cidr, type IpFamily } from '../api/ip.js';

/**
 * kube-proxy's --nodeport-addresses (pkg/proxy/util/nodeport_addresses.go):
 * CIDRs, or `primary` for the node's own IPs. Resolved against this node's
 * addresses into the list NodePorts answer on; undefined when NodePorts
 * answer on every local address (unset, as kube-proxy's default, or a CIDR
 * matching everything).
 */
export function resolveNodePortAddresses(
  spec: string | undefined,
  localAddresses: readonly string[],
  nodeIPs: readonly string[],
  family: IpFamily = 4,
): string[] | undefined {
  const items = (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) return undefined;
  const cidrs: Cidr[] = items.flatMap((item): Cidr[] => {
    if (item === 'primary')
      return nodeIPs.flatMap((ip) => {
        const c = parseCidr(`${ip}/${ip.includes(':') ? 128 : 32}`);
        return c ? [c] : [];
      });
    const c = parseCidr(item);
    if (!c) throw new ConfigError('--nodeport-addresses', `${JSON.stringify(item)} is not a CIDR or "primary"`);
    return [c];
  });
  // kube-proxy NewNodePortAddresses keeps the CIDRs of its proxier's family; none of them means every address.
  const own = cidrs.filter((c) => c.family === family);
  if (own.length === 0 || own.some((c) => c.prefixLength === 0)) return undefined;
  const out = new Set<string>();
  for (const text of localAddresses) {
    const ip = parseIp(text);
    if (ip && own.some((c) => cidrContains(c, ip))) out.add(ip.text);
  }
  return [...out].sort();
}
