import { hostname } from 'node:os';
import type { Command } from 'commander';
import { runAgent } from '../agent/agent.js';
import { UsageError } from '../api/errors.js';
import { BACKEND_TYPES, type BackendType } from '../overlay/network-config.js';
import { OVERLAY_RESYNC_MS } from '../overlay/overlay-agent.js';
import {
  addEtcdOptions,
  addSubnetSourceOption,
  etcdConnection,
  keelOption,
  parseIntFlag,
  registryPrefix,
  subnetSourceOf,
  type EtcdFlags,
  type SubnetSourceFlags,
} from './options.js';
import { addUnderlayOptions, underlayConfig, type UnderlayFlags } from './overlay-flags.js';
import type { SubnetPrefixFlags } from './subnet-prefix-flags.js';

interface RunFlags extends EtcdFlags, SubnetPrefixFlags, SubnetSourceFlags, UnderlayFlags {
  backend?: string;
  ipMasq: boolean;
  leaseTtl?: number;
  metricsBindAddress?: string;
}

/** Runs the overlay alone in the foreground until SIGINT/SIGTERM: runAgent with only its overlay part. */
export function registerNetworkRun(network: Command, addSubnetPrefix: (cmd: Command) => Command): void {
  const cmd = network
    .command('run')
    .description("run this node's overlay (lease, backend, routes, subnet.env, ip-masq) in the foreground")
    .addOption(keelOption('--backend <type>', 'expected backend (must match the network config)'))
    .addOption(keelOption('--node-name <name>', "this node's Node object, with --subnet-source node [default: the hostname]"))
    .addOption(keelOption('--no-ip-masq', 'do not masquerade pod traffic leaving the network'))
    .addOption(keelOption('--metrics-bind-address <host:port>', '/metrics, /healthz and /readyz (off unless given)'))
    .addOption(
      keelOption('--lease-ttl <seconds>', 'subnet lease TTL (default 86400)').argParser(parseIntFlag('--lease-ttl', 5, 7 * 86400)),
    );
  addSubnetPrefix(addSubnetSourceOption(addEtcdOptions(addUnderlayOptions(cmd)))).action(async (flags: RunFlags) => {
    if (flags.backend !== undefined && !(BACKEND_TYPES as readonly string[]).includes(flags.backend)) {
      throw new UsageError(`--backend: ${JSON.stringify(flags.backend)} is not one of ${BACKEND_TYPES.join(', ')}`);
    }
    await runAgent({
      name: 'overlay',
      etcd: etcdConnection(flags),
      metricsBindAddress: flags.metricsBindAddress,
      healthPeriodMs: OVERLAY_RESYNC_MS,
      registryPrefix: registryPrefix(flags),
      proxy: undefined,
      overlay: {
        subnetPrefix: flags.subnetPrefix,
        backend: flags.backend as BackendType | undefined,
        ...underlayConfig(flags),
        ipMasq: flags.ipMasq,
        leaseTtlSeconds: flags.leaseTtl,
        subnetSource: subnetSourceOf(flags),
        nodeName: flags.nodeName ?? hostname(),
      },
      dns: undefined,
    });
  });
}
