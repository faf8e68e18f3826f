import { cidrContains, parseIp, type Cidr } from '../api/ip.js';

/**
 * Who may have names outside the cluster resolved: pods (--cluster-cidr),
 * the node's own addresses and loopback. keel is never an open resolver;
 * everyone else gets REFUSED for foreign names (cluster names stay public).
 */
export function recursionPolicy(clusterCidrs: readonly Cidr[], nodeAddresses: readonly string[]): (address: string) => boolean {
  const nodes = new Set(nodeAddresses.map((a) => parseIp(a)?.text).filter((a): a is string => a !== undefined));
  const memo = new Map<string, boolean>();
  const decide = (address: string): boolean => {
    const ip = parseIp(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address);
    if (!ip) return false;
    if (ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n) return true;
    return nodes.has(ip.text) || clusterCidrs.some((c) => cidrContains(c, ip));
  };
  return (address) => {
    let ok = memo.get(address);
    if (ok === undefined) {
      ok = decide(address);
      // Bounded: a flood of spoofed sources must not grow memory.
      if (memo.size > 10_000) memo.clear();
      memo.set(address, ok);
    }
    return ok;
  };
}
