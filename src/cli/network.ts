import { UsageError } from '../api/errors.js';
import { parseCidr } from '../api/ip.js';
import { renderCniConfig } from '../overlay/cni-config.js';
import { checkServiceOverlap, parseNetworkConfig, renderNetworkConfig } from '../overlay/network-config.js';
import { readSubnetEnv } from '../overlay/subnet-env.js';
import type { EtcdFlags } from './options.js';
import type { SubnetPrefixFlags } from './subnet-prefix-flags.js';
import { withLeaseStore } from './connect.js';

interface InitFlags extends EtcdFlags, SubnetPrefixFlags {
  network?: string;
  backend: string;
  subnetLen?: number;
  ipv6SubnetLen?: number;
  subnetMin?: string;
  subnetMax?: string;
  vni?: number;
  port?: number;
  directRouting?: boolean;
  serviceClusterIpRange: string;
  force?: boolean;
}

interface CniFlags {
  subnetFile: string;
  name: string;
  bridge: string;
  ipamDataDir?: string;
}

export async function initNetwork(flags: InitFlags): Promise<void> {
  if (!flags.network) throw new UsageError('network init: --network is required (e.g. --network 10.244.0.0/16)');
  const input = {
    network: flags.network,
    backend: flags.backend,
    ...(flags.subnetLen !== undefined ? { subnetLen: flags.subnetLen } : {}),
    ...(flags.ipv6SubnetLen !== undefined ? { ipv6SubnetLen: flags.ipv6SubnetLen } : {}),
    ...(flags.subnetMin !== undefined ? { subnetMin: flags.subnetMin } : {}),
    ...(flags.subnetMax !== undefined ? { subnetMax: flags.subnetMax } : {}),
    ...(flags.vni !== undefined ? { vni: flags.vni } : {}),
    ...(flags.port !== undefined ? { port: flags.port } : {}),
    ...(flags.directRouting ? { directRouting: true } : {}),
  };
  const text = renderNetworkConfig(input);
  const config = parseNetworkConfig(text);
  for (const r of flags.serviceClusterIpRange.split(',')) {
    const range = parseCidr(r.trim());
    if (!range) throw new UsageError(`--service-cluster-ip-range: ${JSON.stringify(r)} is not a CIDR`);
    checkServiceOverlap(config, range);
  }
  await withLeaseStore(flags, async (store) => {
    if (!(await store.putConfig(text, flags.force === true))) {
      throw new UsageError(`network config ${store.configKey} already exists (use --force to replace it)`);
    }
    process.stdout.write(`${store.configKey} ${text}\n`);
  });
}

export async function printCniConfig(flags: CniFlags): Promise<void> {
  const env = await readSubnetEnv(flags.subnetFile);
  if (!env) throw new UsageError(`cni-config: cannot read ${flags.subnetFile} (is the overlay running on this node?)`);
  process.stdout.write(
    renderCniConfig(env, { name: flags.name, bridge: flags.bridge, ...(flags.ipamDataDir ? { dataDir: flags.ipamDataDir } : {}) }),
  );
}
