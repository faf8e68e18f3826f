import { cidrContains, type Cidr } from '../../api/ip.js';
import type { Lease } from '../lease.js';
import type { DesiredKernel } from './backend.js';
import { directRoute } from './direct-route.js';
import { sorted } from './plan-vxlan.js';

/** `<subnet> via <PublicIP>` per lease; a node off this L2 segment cannot be a next hop and is refused. */
export function planHostGw(leases: readonly Lease[], own: Cidr, ctx: { underlayIndex: number; underlayPrefix: Cidr }): DesiredKernel {
  const out: DesiredKernel = { routes: [], neighbors: [], fdb: [], refused: [] };
  for (const lease of sorted(leases, own)) {
    if (!cidrContains(ctx.underlayPrefix, lease.attrs.publicIp)) {
      out.refused.push({
        subnet: lease.subnet.text,
        reason: `host-gw needs one L2 segment: ${lease.attrs.publicIp.text} is outside ${ctx.underlayPrefix.text}`,
      });
      continue;
    }
    out.routes.push(directRoute(lease, ctx.underlayIndex));
  }
  return out;
}
