import type { Command } from 'commander';
import { parsePortRange, DEFAULT_NODE_PORT_RANGE } from '../ipam/node-ports.js';
import type { IpamConfig } from '../ipam/service-allocation.js';
import { parseServiceRange } from '../ipam/service-ips.js';
import { keelOption } from './options.js';

export interface IpamFlags {
  serviceClusterIpRange: string;
  serviceNodePortRange: string;
}

export const DEFAULT_SERVICE_RANGE = '10.96.0.0/12';

export function addIpamOptions(cmd: Command): Command {
  return cmd
    .addOption(
      keelOption('--service-cluster-ip-range <cidrs>', 'ClusterIP range(s), one per family, comma-separated', DEFAULT_SERVICE_RANGE),
    )
    .addOption(keelOption('--service-node-port-range <range>', 'NodePort range', DEFAULT_NODE_PORT_RANGE));
}

export function ipamConfig(flags: IpamFlags): IpamConfig {
  return { serviceRanges: parseServiceRange(flags.serviceClusterIpRange), nodePorts: parsePortRange(flags.serviceNodePortRange) };
}
