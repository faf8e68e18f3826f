import { hostname } from 'node:os';
import { runAgent } from '../agent/agent.js';
import { UsageError } from '../api/errors.js';
import { BACKEND_TYPES, type BackendType } from '../overlay/network-config.js';
import { OVERLAY_RESYNC_MS } from '../overlay/overlay-agent.js';
import { registryPrefix, subnetSourceOf, type EtcdFlags, type SubnetSourceFlags } from './options.js';
import { underlayConfig, type UnderlayFlags } from './overlay-flags.js';
import { etcdConnection } from './connect.js';
import type { SubnetPrefixFlags } from './subnet-prefix-flags.js';

interface RunFlags extends EtcdFlags, SubnetPrefixFlags, SubnetSourceFlags, UnderlayFlags {
  backend?: string;
  ipMasq: boolean;
  leaseTtl?: number;
  metricsBindAddress?: string;
}

/** Runs the overlay alone in the foreground until SIGINT/SIGTERM: runAgent with only its overlay part. */
export async function runNetworkRun(flags: RunFlags): Promise<void> {
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
}
