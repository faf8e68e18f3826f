import type { Command } from 'commander';
import type { OverlayConfig } from '../agent/agent-config.js';
import { nodeIpOf } from '../agent/node-ip.js';
import { UsageError } from '../api/errors.js';
import type { IptablesBackend } from '../kernel/iptables/restore-runner.js';
import { DEFAULT_SUBNET_FILE } from '../overlay/subnet-env.js';
import { keelOption } from './options.js';

/** The flags `keel agent` and `keel network run` share for the node's side of the overlay. */
export interface UnderlayFlags {
  iface?: string;
  publicIp?: string;
  publicIpv6?: string;
  subnetFile: string;
  iptablesBackend: string;
}

/** flannel's --iface, --public-ip, --public-ipv6 and --subnet-file, and which iptables-restore masquerades. */
export function addUnderlayOptions(cmd: Command): Command {
  return cmd
    .addOption(keelOption('--iface <name>', "underlay interface [default: the default route's]"))
    .addOption(
      keelOption('--public-ip <ip>', "IPv4 address advertised in the subnet lease [default: the IPv4 --node-ip, else the underlay's]"),
    )
    .addOption(
      keelOption(
        '--public-ipv6 <ip>',
        "IPv6 address advertised in the lease with EnableIPv6 [default: the IPv6 --node-ip, else the underlay's first global one]",
      ),
    )
    .addOption(keelOption('--subnet-file <path>', 'where subnet.env is written', DEFAULT_SUBNET_FILE))
    .addOption(keelOption('--iptables-backend <backend>', 'which iptables-restore: nft or legacy', 'nft'));
}

export function iptablesBackendOf(flags: Pick<UnderlayFlags, 'iptablesBackend'>): IptablesBackend {
  if (flags.iptablesBackend !== 'nft' && flags.iptablesBackend !== 'legacy')
    throw new UsageError(`--iptables-backend: ${JSON.stringify(flags.iptablesBackend)} is not one of nft, legacy`);
  return flags.iptablesBackend;
}

/**
 * The underlay part of the overlay's config: each advertised address is its
 * flag, else this node's IP of that family (`keel agent --node-ip`), else
 * left to the overlay, which reads it from the underlay interface.
 */
export function underlayConfig(
  flags: UnderlayFlags,
  nodeIps: readonly string[] = [],
): Pick<OverlayConfig, 'iface' | 'publicIp' | 'publicIpv6' | 'subnetFile' | 'iptablesBackend'> {
  const publicIpv6 = flags.publicIpv6 ?? nodeIpOf(nodeIps, 6);
  return {
    iface: flags.iface,
    publicIp: flags.publicIp ?? nodeIpOf(nodeIps, 4),
    ...(publicIpv6 ? { publicIpv6 } : {}),
    subnetFile: flags.subnetFile,
    iptablesBackend: iptablesBackendOf(flags),
  };
}
