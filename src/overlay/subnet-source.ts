import type { Lease, LeaseAttrs, LeaseSubnets } from './lease.js';

/** --subnet-source: flannel's etcd subnet manager, or its kube-subnet-mgr (subnets from Node objects). */
export const SUBNET_SOURCES = ['etcd', 'node'] as const;
export type SubnetSourceName = (typeof SUBNET_SOURCES)[number];

/**
 * Where this node's subnet and every other node's lease come from:
 * flannel's subnet.Manager seam (AcquireLease, WatchLeases). The overlay
 * agent and its backends see only Leases and never know which source
 * serves them; a lease carries its IPv6 subnet beside the IPv4 one.
 */
export interface SubnetSource {
  readonly name: SubnetSourceName;
  /** Starts following every node's lease; resolves after the first listing (or the abort). Starts nothing before. */
  start(signal: AbortSignal): Promise<void>;
  /** Takes this node's subnet(s) and publishes `attrs` (public IP, backend data) where the other nodes read them. */
  acquire(attrs: LeaseAttrs, previous: LeaseSubnets | undefined): Promise<Lease>;
  current(): Lease | undefined;
  /** This node's lease was replaced after acquire (lost and taken again; its Node got another podCIDR). */
  onOwnLease(fn: (lease: Lease) => void): void;
  /** Every node's lease as known now, this node's included. */
  leases(): Lease[];
  /** Some node's lease appeared, changed or went. */
  onChange(fn: () => void): void;
}
