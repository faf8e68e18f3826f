import type { Command } from 'commander';
import { DEFAULT_SUBNET_FILE } from '../../overlay/subnet-env.js';
import { DEFAULT_SERVICE_RANGE } from '../ipam-flags.js';
import { addEtcdOptions, addSubnetSourceOption, keelOption, parseIntFlag } from '../options.js';
import { addUnderlayOptions } from '../overlay-flags.js';
import { addSubnetPrefixOption } from '../subnet-prefix-flags.js';
import { lazy } from './lazy.js';

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
  addSubnetPrefixOption(addEtcdOptions(init)).action(lazy(async () => (await import('../network.js')).initNetwork));

  network
    .command('cni-config')
    .description("print a CNI conflist (bridge cni0 + host-local over this node's subnet + portmap) from subnet.env")
    .addOption(keelOption('--subnet-file <path>', 'subnet.env written by the overlay', DEFAULT_SUBNET_FILE))
    .addOption(keelOption('--name <name>', 'CNI network name', 'keel'))
    .addOption(keelOption('--bridge <name>', 'bridge device', 'cni0'))
    .addOption(keelOption('--ipam-data-dir <dir>', 'host-local allocation directory'))
    .action(lazy(async () => (await import('../network.js')).printCniConfig));

  registerNetworkRun(network);
}

/** `keel network run`: the overlay alone in the foreground. */
function registerNetworkRun(network: Command): void {
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
  addSubnetPrefixOption(addSubnetSourceOption(addEtcdOptions(addUnderlayOptions(cmd)))).action(
    lazy(async () => (await import('../network-run.js')).runNetworkRun),
  );
}
