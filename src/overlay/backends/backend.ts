import type { Cidr, IpAddress } from '../../api/ip.js';
import type { Logger } from '../../observe/log.js';
import type { Lease } from '../lease.js';
import type { KernelFdb, KernelNeighbor, KernelRoute, LinkInfo, NetlinkPort } from '../../kernel/netlink/netlink-port.js';
import type { BackendType, NetworkConfig } from '../network-config.js';

/** Where this node sits on the underlay. */
export interface NodeContext {
  readonly publicIp: IpAddress;
  readonly underlay: LinkInfo;
  /** The connected prefix holding publicIp: nodes inside it share this node's L2 segment. */
  readonly underlayPrefix: Cidr;
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
  /** BackendData of this node's lease (vxlan: VNI and VtepMAC). */
  readonly backendData: unknown;
  /** The device whose neighbour/FDB entries belong to this backend alone, if any. */
  readonly ownedIfindex: number | undefined;
  /** Gives the device its address once the node subnet is known. */
  configure(subnet: Cidr): Promise<void>;
  plan(leases: readonly Lease[], own: Cidr): DesiredKernel;
  /** Userspace data paths (udp) learn the leases here. */
  leasesChanged(leases: readonly Lease[], own: Cidr): void;
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
