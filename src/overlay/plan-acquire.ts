import { ipFromValue, type Cidr } from '../api/ip.js';
import { chooseSubnet, type SubnetConfig } from '../ipam/subnets.js';
import type { PickIndex } from '../ipam/service-ips.js';
import type { LeaseAttrs, LeaseSubnets } from './lease.js';
import type { FamilyRange, NetworkConfig } from './network-config.js';
import type { StoredLease } from './lease-store.js';

export type AcquirePlan =
  | { kind: 'reuse'; lease: StoredLease }
  | { kind: 'create'; subnets: LeaseSubnets; how: 'previous' | 'new' }
  | { kind: 'full'; family: 4 | 6; leasable: bigint };

const bitsOf = (range: FamilyRange): number => (range.network.family === 4 ? 32 : 128);

function subnetConfigOf(range: FamilyRange): SubnetConfig {
  const at = (first: bigint): Cidr => ({
    family: range.network.family,
    first,
    size: 1n << BigInt(bitsOf(range) - range.subnetLen),
    prefixLength: range.subnetLen,
    text: `${ipFromValue(range.network.family, first).text}/${range.subnetLen}`,
  });
  return { network: range.network, subnetLen: range.subnetLen, subnetMin: at(range.subnetMin.value), subnetMax: at(range.subnetMax.value) };
}

function inRange(range: FamilyRange, subnet: Cidr): boolean {
  return (
    subnet.family === range.network.family &&
    subnet.prefixLength === range.subnetLen &&
    subnet.first >= range.subnetMin.value &&
    subnet.first <= range.subnetMax.value
  );
}

/**
 * flannel's isSubnetConfigCompat and isIPv6SubnetConfigCompat: each enabled
 * family's subnet inside its range, no IPv6 part without EnableIPv6. An
 * IPv6-only lease carries flannel's zero IPv4 part (0.0.0.0/0).
 */
function leasable(config: NetworkConfig, s: LeaseSubnets): boolean {
  const v4 = config.enableIPv4 ? inRange(config, s.subnet) : s.subnet.prefixLength === 0;
  const v6 = config.ipv6 ? s.ipv6Subnet !== undefined && inRange(config.ipv6, s.ipv6Subnet) : s.ipv6Subnet === undefined;
  return v4 && v6;
}

/** One family's free subnet, or the count of leasable ones when none is free. */
function choose(range: FamilyRange, taken: ReadonlySet<string>, pick: PickIndex): Cidr | bigint {
  return (
    chooseSubnet(subnetConfigOf(range), taken, pick) ??
    (range.subnetMax.value - range.subnetMin.value) / (1n << BigInt(bitsOf(range) - range.subnetLen)) + 1n
  );
}

/**
 * flannel's order: the lease this node already holds (found by PublicIP, or
 * PublicIPv6 on an IPv6-only network, whose PublicIP is 0.0.0.0 on every
 * node), then the subnets this node used last (subnet.env) if still free,
 * then free ones, each family chosen on its own. Pure: the caller lists,
 * plans, and races for the result.
 */
export function planAcquire(
  config: NetworkConfig,
  leases: readonly StoredLease[],
  attrs: Pick<LeaseAttrs, 'publicIp' | 'publicIpv6'>,
  previous: LeaseSubnets | undefined,
  pick: PickIndex,
): AcquirePlan {
  const ownIp = config.enableIPv4 ? attrs.publicIp.text : attrs.publicIpv6?.text;
  const mine = leases.find(
    (l) => (config.enableIPv4 ? l.attrs.publicIp.text : l.attrs.publicIpv6?.text) === ownIp && ownIp !== undefined && leasable(config, l),
  );
  if (mine) return { kind: 'reuse', lease: mine };
  const taken4 = new Set(leases.map((l) => l.subnet.text));
  const taken6 = new Set(leases.flatMap((l) => (l.ipv6Subnet ? [l.ipv6Subnet.text] : [])));
  const free = (s: LeaseSubnets): boolean =>
    (!config.enableIPv4 || !taken4.has(s.subnet.text)) && (!s.ipv6Subnet || !taken6.has(s.ipv6Subnet.text));
  if (previous && leasable(config, previous) && free(previous)) return { kind: 'create', subnets: previous, how: 'previous' };
  const subnet = config.enableIPv4 ? choose(config, taken4, pick) : config.network;
  if (typeof subnet === 'bigint') return { kind: 'full', family: 4, leasable: subnet };
  if (!config.ipv6) return { kind: 'create', subnets: { subnet }, how: 'new' };
  const ipv6Subnet = choose(config.ipv6, taken6, pick);
  if (typeof ipv6Subnet === 'bigint') return { kind: 'full', family: 6, leasable: ipv6Subnet };
  return { kind: 'create', subnets: { subnet, ipv6Subnet }, how: 'new' };
}
