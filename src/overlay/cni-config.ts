import type { SubnetEnv } from './subnet-env.js';
import { ipFromValue } from '../api/ip.js';

export interface CniConfigOptions {
  /** CNI network name; host-local keeps its allocations under this name. */
  name?: string;
  bridge?: string;
  /** host-local's allocation directory (default /var/lib/cni/networks). */
  dataDir?: string;
  cniVersion?: string;
}

/**
 * A conflist for the stock `bridge` + `host-local` + `portmap` plugins,
 * so pods are made by containernetworking-plugins, not by keel. The pod
 * gets an address from the node subnet of each family, the bridge (cni0)
 * holds each subnet's first address as the pods' gateway, and the pods
 * route the whole Network (and everything else) through it.
 */
export function renderCniConfig(env: SubnetEnv, options: CniConfigOptions = {}): string {
  // One host-local range set per family (IPv4 first), so a dual-stack pod gets one address of each.
  const families = [
    ...(env.network && env.subnet ? [{ network: env.network, subnet: env.subnet, any: '0.0.0.0/0' }] : []),
    ...(env.ipv6Network && env.ipv6Subnet ? [{ network: env.ipv6Network, subnet: env.ipv6Subnet, any: '::/0' }] : []),
  ];
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: families.map((f) => [{ subnet: f.subnet.text, gateway: ipFromValue(f.subnet.family, f.subnet.first + 1n).text }]),
    routes: [...families.map((f) => ({ dst: f.network.text })), ...families.map((f) => ({ dst: f.any }))],
  };
  if (options.dataDir) ipam.dataDir = options.dataDir;
  const conflist = {
    cniVersion: options.cniVersion ?? '1.0.0',
    name: options.name ?? 'keel',
    plugins: [
      {
        type: 'bridge',
        bridge: options.bridge ?? 'cni0',
        isGateway: true,
        // Masquerade is keel's KEEL-POSTRTG (pod-to-pod stays unmasqueraded), not the plugin's.
        ipMasq: false,
        hairpinMode: true,
        mtu: env.mtu,
        ipam,
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(conflist, null, 2)}\n`;
}
