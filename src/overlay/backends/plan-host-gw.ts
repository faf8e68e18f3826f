import { cidrContains, type Cidr } from '../../api/ip.js';
import type { Lease, LeaseSubnets } from '../lease.js';
import type { DesiredKernel } from './backend.js';
import { directRoute } from './direct-route.js';
import { leaseHalves, sorted } from './plan-vxlan.js';

/**
 * `<subnet> via <PublicIP>` per lease, and `<IPv6 subnet> via <PublicIPv6>`
 * for the IPv6 half when the node has IPv6 (`families`); a node off this
 * L2 segment cannot be a next hop and is refused.
 */
export function planHostGw(
  leases: readonly Lease[],
  own: LeaseSubnets,
  ctx: { underlayIndex: number; underlayPrefixes: readonly Cidr[]; families: ReadonlySet<4 | 6> },
): DesiredKernel {
  const out: DesiredKernel = { routes: [], neighbors: [], fdb: [], refused: [] };
  for (const lease of sorted(leases, own)) {
    for (const half of leaseHalves(lease)) {
      if (!ctx.families.has(half.family)) continue;
      const segment = ctx.underlayPrefixes.find((p) => p.family === half.family);
      const via = half.publicIp;
      if (!via || !segment || !cidrContains(segment, via)) {
        out.refused.push({
          subnet: half.subnet.text,
          reason: `host-gw needs one L2 segment: ${via?.text ?? 'no PublicIPv6'} is outside ${segment?.text ?? `this node's IPv${half.family} underlay`}`,
        });
        continue;
      }
      out.routes.push(directRoute(half.subnet, via, ctx.underlayIndex));
    }
  }
  return out;
}
