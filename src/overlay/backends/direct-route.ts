import { KEEL_ROUTE_PROTOCOL } from '../../kernel/netlink/netlink-port.js';
import type { Lease } from '../lease.js';
import type { DesiredKernel } from './backend.js';

/** `<subnet> via <PublicIP>` on the underlay: host-gw's route, and vxlan's with DirectRouting for a node on the same segment. */
export function directRoute(lease: Lease, underlayIndex: number): DesiredKernel['routes'][number] {
  return { dst: lease.subnet, gateway: lease.attrs.publicIp, oif: underlayIndex, onlink: false, protocol: KEEL_ROUTE_PROTOCOL };
}
