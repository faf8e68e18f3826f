import type { Cidr, IpAddress } from '../../api/ip.js';
import { KEEL_ROUTE_PROTOCOL } from '../../kernel/netlink/netlink-port.js';
import type { DesiredKernel } from './backend.js';

/** `<subnet> via <PublicIP>` on the underlay: host-gw's route, and vxlan's with DirectRouting for a node on the same segment (either family). */
export function directRoute(subnet: Cidr, publicIp: IpAddress, underlayIndex: number): DesiredKernel['routes'][number] {
  return { dst: subnet, gateway: publicIp, oif: underlayIndex, onlink: false, protocol: KEEL_ROUTE_PROTOCOL };
}
