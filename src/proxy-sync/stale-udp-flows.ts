import type { StaleFlow } from '../kernel/conntrack/conntrack.js';
import type { ServicePortInfo } from '../proxy-iptables/compile.js';

/**
 * UDP has no connection to break, so a client keeps its conntrack entry to
 * a removed endpoint until it times out; list the entries to delete: for
 * every UDP service port, endpoints that were there before and are gone.
 */
export function staleUdpFlows(before: readonly ServicePortInfo[], after: readonly ServicePortInfo[]): StaleFlow[] {
  const now = new Map(after.map((p) => [`${p.spn}/${p.protocol}`, p]));
  const out: StaleFlow[] = [];
  for (const old of before) {
    if (old.protocol !== 'UDP') continue;
    const cur = now.get(`${old.spn}/${old.protocol}`);
    const keep = new Set(cur?.endpoints.map((e) => e.address) ?? []);
    for (const e of old.endpoints) {
      if (keep.has(e.address)) continue;
      out.push({ origDst: old.clusterIP, port: old.port, dstNat: e.ip });
      for (const ip of old.externalIPs) out.push({ origDst: ip, port: old.port, dstNat: e.ip });
      if (old.nodePort !== undefined) out.push({ port: old.nodePort, dstNat: e.ip });
    }
  }
  return out;
}
