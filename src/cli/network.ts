import type { Command } from 'commander';
import { UsageError } from '../api/errors.js';
import { parseCidr } from '../api/ip.js';
import { renderCniConfig } from '../overlay/cni-config.js';
import { checkServiceOverlap, parseNetworkConfig, renderNetworkConfig } from '../overlay/network-config.js';
import { DEFAULT_SUBNET_FILE, readSubnetEnv } from '../overlay/subnet-env.js';
import { DEFAULT_SERVICE_RANGE } from './ipam-flags.js';
import { addEtcdOptions, keelOption, parseIntFlag, type EtcdFlags } from './options.js';
import { registerNetworkRun } from './network-run.js';
import { addSubnetPrefixOption, withLeaseStore, type SubnetPrefixFlags } from './subnet-prefix-flags.js';

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

export function registerNetwork(program: Command): void {
  const network = program.command('network').description('the flannel-style overlay: network config, leases, CNI config');

  const init = network
    .command('init')
    .description('store the overlay network config (flannel JSON) in etcd')
    .addOption(
      keelOption('--network <cidr>', 'the pod network, one per family: 10.244.0.0/16, 10.244.0.0/16,fd00:10:244::/56, or IPv6 alone'),
    )
    .addOption(keelOption('--backend <type>', 'vxlan, udp or host-gw', 'vxlan'))
    .addOption(
      keelOption('--subnet-len <n>', 'prefix length of each node subnet (default 24)').argParser(parseIntFlag('--subnet-len', 1, 32)),
    )
    .addOption(
      keelOption('--ipv6-subnet-len <n>', 'prefix length of each IPv6 node subnet (default 64)').argParser(
        parseIntFlag('--ipv6-subnet-len', 1, 126),
      ),
    )
    .addOption(keelOption('--subnet-min <ip>', 'first leasable node subnet'))
    .addOption(keelOption('--subnet-max <ip>', 'last leasable node subnet'))
    .addOption(keelOption('--vni <n>', 'VXLAN network identifier (default 1)').argParser(parseIntFlag('--vni', 1, 0xffffff)))
    .addOption(keelOption('--port <n>', 'encapsulation UDP port (vxlan 8472, udp 8285)').argParser(parseIntFlag('--port', 1, 65535)))
    .addOption(keelOption('--direct-routing', 'vxlan: plain routes to nodes on the same L2 segment'))
    .addOption(keelOption('--service-cluster-ip-range <cidr>', 'service range the network must not overlap', DEFAULT_SERVICE_RANGE))
    .addOption(keelOption('--force', 'replace an existing config'));
  addSubnetPrefixOption(addEtcdOptions(init)).action(async (flags: InitFlags) => {
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
  });

  network
    .command('cni-config')
    .description("print a CNI conflist (bridge cni0 + host-local over this node's subnet + portmap) from subnet.env")
    .addOption(keelOption('--subnet-file <path>', 'subnet.env written by the overlay', DEFAULT_SUBNET_FILE))
    .addOption(keelOption('--name <name>', 'CNI network name', 'keel'))
    .addOption(keelOption('--bridge <name>', 'bridge device', 'cni0'))
    .addOption(keelOption('--ipam-data-dir <dir>', 'host-local allocation directory'))
    .action(async (flags: CniFlags) => {
      const env = await readSubnetEnv(flags.subnetFile);
      if (!env) throw new UsageError(`cni-config: cannot read ${flags.subnetFile} (is the overlay running on this node?)`);
      process.stdout.write(
        renderCniConfig(env, { name: flags.name, bridge: flags.bridge, ...(flags.ipamDataDir ? { dataDir: flags.ipamDataDir } : {}) }),
      );
    });

  registerNetworkRun(network, addSubnetPrefixOption);
}
