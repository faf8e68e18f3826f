import { cidrContains, ipFromValue, type Cidr, type IpAddress } from '../../api/ip.js';
import { readVxlanData, subnetKey, type Lease, type LeaseSubnets, type VxlanBackendData } from '../lease.js';
import { KEEL_ROUTE_PROTOCOL } from '../../kernel/netlink/netlink-port.js';
import type { DesiredKernel } from './backend.js';
import { directRoute } from './direct-route.js';

export interface VxlanPlanContext {
  /** flannel.<VNI> for IPv4 and flannel-v6.<VNI> for IPv6, each present when its family is enabled. */
  ifindex: { readonly 4?: number; readonly 6?: number };
  vni: number;
  underlayIndex: number;
  /** This node's connected prefixes on the underlay (one per family): nodes inside share its L2 segment. */
  underlayPrefixes: readonly Cidr[];
  directRouting: boolean;
}

/** One family's half of a lease: its subnet, underlay address and vxlan data (flannel's BackendData or BackendV6Data). */
export interface LeaseHalf {
  readonly family: 4 | 6;
  readonly subnet: Cidr;
  readonly publicIp: IpAddress | undefined;
}

/** The halves of a lease the node serves: IPv4 unless it is flannel's zero 0.0.0.0/0 of an IPv6-only lease, IPv6 when present. */
export function leaseHalves(lease: LeaseSubnets & Pick<Lease, 'attrs'>): LeaseHalf[] {
  const halves: LeaseHalf[] = [];
  if (lease.subnet.prefixLength > 0) halves.push({ family: 4, subnet: lease.subnet, publicIp: lease.attrs.publicIp });
  if (lease.ipv6Subnet) halves.push({ family: 6, subnet: lease.ipv6Subnet, publicIp: lease.attrs.publicIpv6 });
  return halves;
}

/**
 * Per remote vxlan lease and family: neighbour (remote subnet address →
 * VtepMAC), FDB (VtepMAC → PublicIP or PublicIPv6) and `<subnet> via
 * <remote subnet address> dev flannel.N onlink` (IPv6: flannel-v6.N); with
 * DirectRouting, a plain route via the underlay address for same-segment nodes.
 */
export function planVxlan(leases: readonly Lease[], own: LeaseSubnets, ctx: VxlanPlanContext): DesiredKernel {
  const out: DesiredKernel = { routes: [], neighbors: [], fdb: [], refused: [] };
  for (const lease of sorted(leases, own)) {
    for (const half of leaseHalves(lease)) {
      const ifindex = ctx.ifindex[half.family];
      if (ifindex === undefined) continue;
      const key = half.subnet.text;
      if (!half.publicIp) {
        out.refused.push({ subnet: key, reason: 'the lease has no PublicIPv6 for its IPv6 subnet' });
        continue;
      }
      const publicIp = half.publicIp;
      if (ctx.directRouting && ctx.underlayPrefixes.some((p) => cidrContains(p, publicIp))) {
        out.routes.push(directRoute(half.subnet, publicIp, ctx.underlayIndex));
        continue;
      }
      if (lease.attrs.backendType !== 'vxlan') {
        out.refused.push({ subnet: key, reason: `backend ${lease.attrs.backendType || '(none)'} is not vxlan` });
        continue;
      }
      const data = readVxlanData(lease, half.family);
      if (!data) {
        out.refused.push({ subnet: key, reason: `${half.family === 4 ? 'BackendData' : 'BackendV6Data'} has no VtepMAC` });
        continue;
      }
      if (data.vni !== ctx.vni) {
        out.refused.push({ subnet: key, reason: `VNI ${data.vni} is not this node's ${ctx.vni}` });
        continue;
      }
      addVxlanPeer(out, ifindex, half.subnet, publicIp, data);
    }
  }
  return out;
}

function addVxlanPeer(out: DesiredKernel, ifindex: number, subnet: Cidr, publicIp: IpAddress, data: VxlanBackendData): void {
  const gw = ipFromValue(subnet.family, subnet.first);
  out.neighbors.push({ ifindex, ip: gw, mac: data.vtepMac, permanent: true });
  out.fdb.push({ ifindex, mac: data.vtepMac, dst: publicIp });
  out.routes.push({ dst: subnet, gateway: gw, oif: ifindex, onlink: true, protocol: KEEL_ROUTE_PROTOCOL });
}

/** Other nodes' leases in subnet order (IPv4, then IPv6), so plans are byte-stable. */
export function sorted(leases: readonly Lease[], own: LeaseSubnets): Lease[] {
  const ownKey = subnetKey(own);
  const order = (a: Lease, b: Lease): number =>
    cmp(a.subnet.first, b.subnet.first) || cmp(a.ipv6Subnet?.first ?? -1n, b.ipv6Subnet?.first ?? -1n);
  return leases.filter((l) => subnetKey(l) !== ownKey).sort(order);
}

const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
