import { cidrContains, ipFromValue, type Cidr } from '../../api/ip.js';
import { readVxlanData, type Lease } from '../lease.js';
import { KEEL_ROUTE_PROTOCOL } from '../../kernel/netlink/netlink-port.js';
import type { DesiredKernel } from './backend.js';
import { directRoute } from './direct-route.js';

export interface VxlanPlanContext {
  /** flannel.<VNI> */
  ifindex: number;
  vni: number;
  underlayIndex: number;
  underlayPrefix: Cidr;
  directRouting: boolean;
}

/**
 * Per remote vxlan lease: neighbour (remote .0 → VtepMAC), FDB (VtepMAC →
 * PublicIP) and `<subnet> via <remote .0> dev flannel.N onlink`; with
 * DirectRouting, a plain route via the PublicIP for same-segment nodes.
 */
export function planVxlan(leases: readonly Lease[], own: Cidr, ctx: VxlanPlanContext): DesiredKernel {
  const out: DesiredKernel = { routes: [], neighbors: [], fdb: [], refused: [] };
  for (const lease of sorted(leases, own)) {
    const key = lease.subnet.text;
    if (ctx.directRouting && cidrContains(ctx.underlayPrefix, lease.attrs.publicIp)) {
      out.routes.push(directRoute(lease, ctx.underlayIndex));
      continue;
    }
    if (lease.attrs.backendType !== 'vxlan') {
      out.refused.push({ subnet: key, reason: `backend ${lease.attrs.backendType || '(none)'} is not vxlan` });
      continue;
    }
    const data = readVxlanData(lease);
    if (!data) {
      out.refused.push({ subnet: key, reason: 'BackendData has no VtepMAC' });
      continue;
    }
    if (data.vni !== ctx.vni) {
      out.refused.push({ subnet: key, reason: `VNI ${data.vni} is not this node's ${ctx.vni}` });
      continue;
    }
    const gw = ipFromValue(4, lease.subnet.first);
    out.neighbors.push({ ifindex: ctx.ifindex, ip: gw, mac: data.vtepMac, permanent: true });
    out.fdb.push({ ifindex: ctx.ifindex, mac: data.vtepMac, dst: lease.attrs.publicIp });
    out.routes.push({ dst: lease.subnet, gateway: gw, oif: ctx.ifindex, onlink: true, protocol: KEEL_ROUTE_PROTOCOL });
  }
  return out;
}

/** Other nodes' leases in subnet order, so plans are byte-stable. */
export function sorted(leases: readonly Lease[], own: Cidr): Lease[] {
  return leases
    .filter((l) => l.subnet.text !== own.text)
    .sort((a, b) => (a.subnet.first < b.subnet.first ? -1 : a.subnet.first > b.subnet.first ? 1 : 0));
}
