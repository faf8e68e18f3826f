import { cidrContains, ipFromValue, type Cidr, type IpAddress } from '../api/ip.js';
import { chooseSubnet, type SubnetConfig } from '../ipam/subnets.js';
import type { PickIndex } from '../ipam/service-ips.js';
import type { NetworkConfig } from './network-config.js';
import type { StoredLease } from './lease-store.js';

export type AcquirePlan =
  { kind: 'reuse'; lease: StoredLease } | { kind: 'create'; subnet: Cidr; how: 'previous' | 'new' } | { kind: 'full'; leasable: bigint };

function subnetConfigOf(config: NetworkConfig): SubnetConfig {
  const at = (ip: IpAddress): Cidr => ({
    family: 4,
    first: ip.value,
    size: 1n << BigInt(32 - config.subnetLen),
    prefixLength: config.subnetLen,
    text: `${ip.text}/${config.subnetLen}`,
  });
  return { network: config.network, subnetLen: config.subnetLen, subnetMin: at(config.subnetMin), subnetMax: at(config.subnetMax) };
}

function leasable(config: NetworkConfig, subnet: Cidr): boolean {
  return (
    subnet.prefixLength === config.subnetLen &&
    cidrContains(config.network, ipFromValue(4, subnet.first)) &&
    subnet.first >= config.subnetMin.value &&
    subnet.first <= config.subnetMax.value
  );
}

/**
 * flannel's order: the lease this PublicIP already holds, then the subnet
 * this node used last (subnet.env) if it is still free, then any free one.
 * Pure: the caller lists, plans, and races for the result.
 */
export function planAcquire(
  config: NetworkConfig,
  leases: readonly StoredLease[],
  publicIp: IpAddress,
  previous: Cidr | undefined,
  pick: PickIndex,
): AcquirePlan {
  const mine = leases.find((l) => l.attrs.publicIp.text === publicIp.text && leasable(config, l.subnet));
  if (mine) return { kind: 'reuse', lease: mine };
  const taken = new Set(leases.map((l) => l.subnet.text));
  if (previous && leasable(config, previous) && !taken.has(previous.text)) return { kind: 'create', subnet: previous, how: 'previous' };
  const subnet = chooseSubnet(subnetConfigOf(config), taken, pick);
  if (subnet) return { kind: 'create', subnet, how: 'new' };
  return { kind: 'full', leasable: (config.subnetMax.value - config.subnetMin.value) / (1n << BigInt(32 - config.subnetLen)) + 1n };
}
