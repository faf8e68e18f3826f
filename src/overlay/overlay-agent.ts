import { ConfigError } from '../api/errors.js';
import { parseIp, type IpAddress } from '../api/ip.js';
import type { IptablesRunner } from '../kernel/iptables/restore-runner.js';
import { createLogger, type Logger } from '../observe/log.js';
import { Backoff } from '../runtime/backoff.js';
import { BoundedFrequencyRunner } from '../runtime/bounded-frequency-runner.js';
import { realClock, type Clock } from '../runtime/clock.js';
import type { KvStore } from '../store/kv-store.js';
import { backends } from './backends/index.js';
import type { BackendNetwork } from './backends/backend.js';
import { compileIpMasq, hasMasqJump } from './ip-masq.js';
import { EtcdSubnetSource } from './etcd-subnet-source.js';
import { subnetKey, type Lease, type LeaseAttrs, type LeaseSubnets } from './lease.js';
import { LeaseStore } from './lease-store.js';
import type { NetlinkPort } from '../kernel/netlink/netlink-port.js';
import { podNetworks, type BackendType, type NetworkConfig } from './network-config.js';
import { reconcileKernel } from './reconcile-kernel.js';
import { readSubnetEnv, writeSubnetEnv, type SubnetEnv } from './subnet-env.js';
import { NodeSubnetSource } from './node-subnet-source.js';
import type { SubnetSource } from './subnet-source.js';
import { resolveUnderlay } from './underlay.js';

export interface OverlayAgentOptions {
  kv: KvStore;
  subnetPrefix: string;
  port: NetlinkPort;
  /** ip-masq rules go here (IPv6 ones to ip6tables); undefined turns ip-masq off. */
  iptables: IptablesRunner | undefined;
  ip6tables?: IptablesRunner | undefined;
  /** Must match the network config's backend when given. */
  backend?: BackendType;
  iface?: string;
  publicIp?: string;
  /** flannel's --public-ipv6: the IPv6 underlay address other nodes reach this one at, with EnableIPv6. */
  publicIpv6?: string;
  subnetFile: string;
  leaseTtlSeconds?: number;
  /** --subnet-source: etcd leases (default), or Node objects as flannel's kube-subnet-mgr reads them. */
  subnets?: { source: 'etcd' } | { source: 'node'; registryPrefix: string; nodeName: string };
  /** Full reconcile period (kernel entries someone deleted come back at the latest then); default OVERLAY_RESYNC_MS. */
  resyncMs?: number;
  logger?: Logger;
  clock?: Clock;
}

export const OVERLAY_RESYNC_MS = 10_000;

/**
 * The overlay on one node: acquires the subnet lease, brings up the
 * backend, writes subnet.env and the ip-masq rules, then keeps the kernel
 * in step with every other node's lease. Lease events and netlink events
 * just ask the runner for a sync; it also syncs every resync period, and
 * retries a failed sync after a backoff (1 s doubling up to the period).
 */
export class OverlayAgent {
  private readonly log: Logger;
  private readonly store: LeaseStore;
  private network: BackendNetwork | undefined;
  private config: NetworkConfig | undefined;
  private source: SubnetSource | undefined;
  private readonly clock: Clock;
  private readonly loop: BoundedFrequencyRunner;
  private lastSync: number | undefined;
  /** The backend's shutdown after the abort (the udp backend's workers exit asynchronously). */
  private closing: Promise<void> | undefined;
  /** Refusals already logged, so a lease that cannot be served is reported once, not every pass. */
  private refusedLogged = new Set<string>();

  constructor(private readonly options: OverlayAgentOptions) {
    this.log = options.logger ?? createLogger('overlay');
    this.store = new LeaseStore(options.kv, options.subnetPrefix);
    this.clock = options.clock ?? realClock;
    const resyncMs = options.resyncMs ?? OVERLAY_RESYNC_MS;
    this.loop = new BoundedFrequencyRunner({
      fn: () => this.sync(),
      minIntervalMs: 0,
      maxIntervalMs: resyncMs,
      backoff: new Backoff({ initialMs: 1_000, maxMs: resyncMs }),
      ready: () => this.network !== undefined && this.source?.current() !== undefined,
      clock: this.clock,
      onError: (err, retryInMs) => this.log.error('overlay sync failed; will retry', { error: (err as Error).message, retryInMs }),
    });
  }

  lease(): Lease | undefined {
    return this.source?.current();
  }

  /** When the kernel was last brought in step with the leases (ms since the epoch), for health checks. */
  lastSuccess(): number | undefined {
    return this.lastSync;
  }

  /** Sets the node up, then follows the leases until the signal aborts; resolves after the first successful reconcile. */
  async start(signal: AbortSignal): Promise<void> {
    const o = this.options;
    const config = await this.store.getConfig();
    this.config = config;
    if (o.backend && o.backend !== config.backend.type) {
      throw new ConfigError(
        '--backend',
        `${o.backend} differs from the network config's ${config.backend.type}; every node must use the cluster's backend`,
      );
    }
    const underlay = await resolveUnderlay(o.port, { iface: o.iface, publicIp: o.publicIp, publicIpv6: o.publicIpv6 });
    if (config.enableIPv4 && !underlay.publicIp) throw new ConfigError(`interface ${underlay.link.name}`, 'has no IPv4 address');
    if (config.ipv6 && !underlay.publicIpv6) {
      throw new ConfigError(
        `interface ${underlay.link.name}`,
        'has no global IPv6 address, which EnableIPv6 needs (or pass --public-ipv6)',
      );
    }
    // An IPv6-only node advertises flannel's zero PublicIP, 0.0.0.0, beside its PublicIPv6.
    const publicIp = (config.enableIPv4 && underlay.publicIp) || (parseIp('0.0.0.0') as IpAddress);
    const publicIpv6 = config.ipv6 ? underlay.publicIpv6 : undefined;
    const network = await backends[config.backend.type].setup(
      { publicIp, ...(publicIpv6 ? { publicIpv6 } : {}), underlay: underlay.link, underlayPrefixes: underlay.prefixes, config },
      { port: o.port, logger: this.log.child(config.backend.type) },
    );
    this.network = network;
    signal.addEventListener(
      'abort',
      () => {
        this.closing = network.close();
      },
      { once: true },
    );
    const source = this.subnetSource(config);
    source.onChange(() => this.loop.run());
    await source.start(signal);
    const previous = await readSubnetEnv(o.subnetFile);
    const attrs: LeaseAttrs = {
      publicIp,
      backendType: network.type,
      ...(network.backendData === undefined ? {} : { backendData: network.backendData }),
      ...(publicIpv6 ? { publicIpv6 } : {}),
      ...(network.backendV6Data === undefined ? {} : { backendV6Data: network.backendV6Data }),
    };
    let held: Lease;
    try {
      held = await source.acquire(attrs, previousSubnets(config, previous));
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    this.source = source;
    await this.adopt(held);
    source.onOwnLease((again) => {
      void this.adopt(again).then(() => this.loop.run());
    });
    const offNetlink = o.port.onChange(() => this.loop.run());
    signal.addEventListener('abort', offNetlink, { once: true });
    const synced = this.loop.start(signal);
    this.loop.run();
    await synced;
  }

  /** Resolves once the backend has shut down after the abort (at once if it never came up). */
  closed(): Promise<void> {
    return this.closing ?? Promise.resolve();
  }

  /** One reconcile pass: the leases as the informer holds them, planned by the backend, diffed into the kernel. */
  async sync(): Promise<void> {
    const network = this.network;
    const held = this.source?.current();
    if (!network || !held || !this.source || !this.config) return;
    const leases = this.source.leases();
    network.leasesChanged(leases, held);
    const desired = network.plan(leases, held);
    const refused = new Set(desired.refused.map((r) => `${r.subnet}: ${r.reason}`));
    for (const r of refused) if (!this.refusedLogged.has(r)) this.log.warn('cannot reach lease', { lease: r });
    this.refusedLogged = refused;
    const scope = { networks: podNetworks(this.config), ownedIfindexes: network.ownedIfindexes };
    await reconcileKernel(this.options.port, desired, scope, this.log);
    this.lastSync = this.clock.now();
  }

  /** Makes the node's own side match its lease: device address, subnet.env, ip-masq. */
  private async adopt(held: Lease): Promise<void> {
    const network = this.network;
    const config = this.config;
    if (!network || !config) return;
    await network.configure(held);
    const v6 = config.ipv6 && held.ipv6Subnet ? { network: config.ipv6.network, subnet: held.ipv6Subnet } : undefined;
    await writeSubnetEnv(this.options.subnetFile, {
      ...(config.enableIPv4 ? { network: config.network, subnet: held.subnet } : {}),
      ...(v6 ? { ipv6Network: v6.network, ipv6Subnet: v6.subnet } : {}),
      mtu: network.mtu,
      ipMasq: this.options.iptables !== undefined,
    });
    const masq = [
      ...(config.enableIPv4 ? [{ runner: this.options.iptables, network: config.network, subnet: held.subnet }] : []),
      ...(v6 ? [{ runner: this.options.ip6tables, ...v6 }] : []),
    ];
    for (const { runner, network: net, subnet } of masq) {
      if (!runner) continue;
      const present = hasMasqJump(await runner.save('nat'));
      await runner.restore(compileIpMasq(net, subnet, present), { noflush: true });
    }
    this.log.info('node subnet ready', {
      subnet: subnetKey(held),
      backend: network.type,
      mtu: network.mtu,
      subnetFile: this.options.subnetFile,
      source: this.source?.name,
    });
  }

  /** The subnet.Manager this node runs with; the backends never learn which. */
  private subnetSource(config: NetworkConfig): SubnetSource {
    const o = this.options;
    const logger = this.log.child('lease');
    if (o.subnets?.source === 'node') {
      const { registryPrefix, nodeName } = o.subnets;
      return new NodeSubnetSource({ kv: o.kv, registryPrefix, subnetPrefix: o.subnetPrefix, nodeName, config, logger });
    }
    return new EtcdSubnetSource({
      kv: o.kv,
      store: this.store,
      config,
      logger,
      ...(o.leaseTtlSeconds ? { leaseTtlSeconds: o.leaseTtlSeconds } : {}),
    });
  }
}

/** The subnets this node held last (its subnet.env), when they belong to the networks the config has now. */
function previousSubnets(config: NetworkConfig, env: SubnetEnv | undefined): LeaseSubnets | undefined {
  if (!env) return undefined;
  const subnet = config.enableIPv4 ? env.subnet : config.network;
  if (!subnet || (config.enableIPv4 && env.network?.text !== config.network.text)) return undefined;
  if (!config.ipv6) return { subnet };
  if (!env.ipv6Subnet || env.ipv6Network?.text !== config.ipv6.network.text) return undefined;
  return { subnet, ipv6Subnet: env.ipv6Subnet };
}
