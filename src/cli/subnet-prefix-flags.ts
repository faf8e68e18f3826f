import type { Command } from 'commander';
import { DEFAULT_SUBNET_PREFIX } from '../overlay/lease-store.js';
import { keelOption } from './options.js';

/** `--subnet-prefix`, shared by `keel network …` and `keel describe` (its own file, so `network run` needs nothing from network.ts). */
export interface SubnetPrefixFlags {
  subnetPrefix: string;
}

export function addSubnetPrefixOption(cmd: Command): Command {
  return cmd.addOption(keelOption('--subnet-prefix <prefix>', 'etcd prefix of the overlay config and leases', DEFAULT_SUBNET_PREFIX));
}
