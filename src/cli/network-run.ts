import type { Command } from 'commander';
import { serveHttpEndpoints } from '../agent/http-endpoints.js';
import { UsageError } from '../api/errors.js';
import { RestoreRunner, type IptablesBackend } from '../kernel/iptables/restore-runner.js';
import { RtNetlinkPort } from '../kernel/netlink/netlink-port.js';
import { BACKEND_TYPES, type BackendType } from '../overlay/network-config.js';
import { OverlayAgent } from '../overlay/overlay-agent.js';
import { DEFAULT_SUBNET_FILE } from '../overlay/subnet-env.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { addEtcdOptions, etcdConnection, keelOption, parseIntFlag, type EtcdFlags } from './options.js';
import type { SubnetPrefixFlags } from './network.js';

interface RunFlags extends EtcdFlags, SubnetPrefixFlags {
  backend?: string;
  iface?: string;
  publicIp?: string;
  subnetFile: string;
  ipMasq: boolean;
  iptablesBackend: string;
  leaseTtl?: number;
  metricsBindAddress?: string;
}

/** Runs the overlay alone in the foreground until SIGINT/SIGTERM (`keel agent` will host it too). */
export function registerNetworkRun(network: Command, addSubnetPrefix: (cmd: Command) => Command): void {
  const cmd = network.command('run')
    .description('run this node\'s overlay (lease, backend, routes, subnet.env, ip-masq) in the foreground')
    .addOption(keelOption('--backend <type>', 'expected backend (must match the network config)'))
    .addOption(keelOption('--iface <name>', 'underlay interface (default: the default route\'s)'))
    .addOption(keelOption('--public-ip <ip>', 'address other nodes reach this node at'))
    .addOption(keelOption('--subnet-file <path>', 'where subnet.env is written', DEFAULT_SUBNET_FILE))
    .addOption(keelOption('--no-ip-masq', 'do not masquerade pod traffic leaving the network'))
    .addOption(keelOption('--iptables-backend <nft|legacy>', 'which iptables-restore', 'nft'))
    .addOption(keelOption('--metrics-bind-address <host:port>', '/metrics, /healthz and /readyz (off unless given)'))
    .addOption(keelOption('--lease-ttl <seconds>', 'subnet lease TTL (default 86400)').argParser(parseIntFlag('--lease-ttl', 5, 7 * 86400)));
  addSubnetPrefix(addEtcdOptions(cmd)).action(async (flags: RunFlags) => {
    if (flags.backend !== undefined && !(BACKEND_TYPES as readonly string[]).includes(flags.backend)) {
      throw new UsageError(`--backend: ${JSON.stringify(flags.backend)} is not one of ${BACKEND_TYPES.join(', ')}`);
    }
    if (flags.iptablesBackend !== 'nft' && flags.iptablesBackend !== 'legacy') throw new UsageError('--iptables-backend: nft or legacy');
    const conn = etcdConnection(flags);
    const client = createEtcdClient(conn);
    const port = new RtNetlinkPort();
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const agent = new OverlayAgent({
        kv: new KvStore(client, conn.endpoints),
        subnetPrefix: flags.subnetPrefix,
        port,
        iptables: flags.ipMasq ? new RestoreRunner({ backend: flags.iptablesBackend as IptablesBackend }) : undefined,
        subnetFile: flags.subnetFile,
        ...(flags.backend ? { backend: flags.backend as BackendType } : {}),
        ...(flags.iface ? { iface: flags.iface } : {}),
        ...(flags.publicIp ? { publicIp: flags.publicIp } : {}),
        ...(flags.leaseTtl ? { leaseTtlSeconds: flags.leaseTtl } : {}),
      });
      if (flags.metricsBindAddress) {
        const source = { name: 'overlay', ready: () => agent.lease() !== undefined, lastSuccess: () => agent.lastSuccess(), periodMs: () => 10_000 };
        await serveHttpEndpoints(flags.metricsBindAddress, [source], controller.signal);
      }
      await agent.start(controller.signal);
      await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      controller.abort();
      port.close();
      client.close();
    }
  });
}
