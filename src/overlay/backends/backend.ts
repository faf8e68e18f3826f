import type { Cidr, IpAddress } from '../../api/ip.js';
import type { Logger } from '../../observe/log.js';
import type { Lease, LeaseSubnets } from '../lease.js';
import type { KernelFdb, KernelNeighbor, KernelRoute, LinkInfo, NetlinkPort } from '../../kernel/netlink/netlink-port.js';
import type { BackendType, NetworkConfig } from '../network-config.js';

/** Where this node sits on the underlay. */
export interface NodeContext {
  /** The IPv4 underlay address; 0.0.0.0 on an IPv6-only network (flannel's PublicIP there). */
  readonly publicIp: IpAddress;
  /** The IPv6 underlay address (flannel's PublicIPv6), when the underlay has one. */
  readonly publicIpv6?: IpAddress;
  readonly underlay: LinkInfo;
  /** The connected prefixes holding publicIp and publicIpv6: nodes inside them share this node's L2 segment. */
  readonly underlayPrefixes: readonly Cidr[];
  readonly config: NetworkConfig;
}

/** What a backend wants in the kernel for the other nodes' leases; a pure function of the leases. */
export interface DesiredKernel {
  routes: KernelRoute[];
  neighbors: KernelNeighbor[];
  fdb: KernelFdb[];
  /** Leases this backend cannot serve, with the reason (logged and counted, never fatal). */
  refused: Array<{ subnet: string; reason: string }>;
}

export interface BackendNetwork {
  readonly type: BackendType;
  /** MTU pods get (FLANNEL_MTU). */
  readonly mtu: number;
  /** BackendData of this node's lease (vxlan: VNI and VtepMAC of flannel.N). */
  readonly backendData: unknown;
  /** BackendV6Data (vxlan: VNI and VtepMAC of flannel-v6.N). */
  readonly backendV6Data: unknown;
  /** The devices whose neighbour/FDB entries belong to this backend alone. */
  readonly ownedIfindexes: readonly number[];
  /** Gives the devices their addresses once the node subnets are known. */
  configure(subnets: LeaseSubnets): Promise<void>;
  plan(leases: readonly Lease[], own: LeaseSubnets): DesiredKernel;
  /** Userspace data paths (udp) learn the leases here. */
  leasesChanged(leases: readonly Lease[], own: LeaseSubnets): void;
  close(): Promise<void>;
}

export interface BackendDeps {
  port: NetlinkPort;
  logger: Logger;
}

export interface BackendFactory {
  readonly type: BackendType;
  setup(ctx: NodeContext, deps: BackendDeps): Promise<BackendNetwork>;
}
