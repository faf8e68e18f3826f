import type { Command } from 'commander';
import { parsePortRange, DEFAULT_NODE_PORT_RANGE } from '../ipam/node-ports.js';
import type { IpamConfig } from '../ipam/service-allocation.js';
import { parseServiceRange } from '../ipam/service-ips.js';
import { DEFAULT_RUN_DIR, sandboxServiceRangeIn } from '../sandbox/sandbox-state.js';
import { keelOption } from './options.js';

export interface IpamFlags {
  /** Undefined: the keel-up sandbox's range(s) when etcd is the sandbox's, else DEFAULT_SERVICE_RANGE. */
  serviceClusterIpRange?: string | undefined;
  serviceNodePortRange: string;
  /** Given: etcd is not (necessarily) the sandbox's, so neither is the range. */
  etcdEndpoints?: string | undefined;
}

export const DEFAULT_SERVICE_RANGE = '10.96.0.0/12';

export function addIpamOptions(cmd: Command): Command {
  return cmd
    .addOption(
      keelOption(
        '--service-cluster-ip-range <cidrs>',
        `ClusterIP range(s), one per family, comma-separated [default: the keel-up sandbox's (keel up --ip-family), else ${DEFAULT_SERVICE_RANGE}]`,
      ),
    )
    .addOption(keelOption('--service-node-port-range <range>', 'NodePort range', DEFAULT_NODE_PORT_RANGE));
}

export function ipamConfig(flags: IpamFlags): IpamConfig {
  const range =
    flags.serviceClusterIpRange ??
    (flags.etcdEndpoints ? undefined : sandboxServiceRangeIn(process.env.KEEL_RUN_DIR || DEFAULT_RUN_DIR)) ??
    DEFAULT_SERVICE_RANGE;
  return { serviceRanges: parseServiceRange(range), nodePorts: parsePortRange(flags.serviceNodePortRange) };
}
