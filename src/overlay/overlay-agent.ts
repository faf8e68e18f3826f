import { ConfigError } from '../api/errors.js';
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
import type { Lease, LeaseSubnets } from './lease.js';
import { LeaseStore } from './lease-store.js';
import type { NetlinkPort } from '../kernel/netlink/netlink-port.js';
import type { BackendType, NetworkConfig } from './network-config.js';
import { reconcileKernel } from './reconcile-kernel.js';
import { readSubnetEnv, writeSubnetEnv, type SubnetEnv } from './subnet-env.js';
import { NodeSubnetSource } from './node-subnet-source.js';
import type { SubnetSource } from './subnet-source.js';
import { resolveUnderlay } from './underlay.js';

export interface OverlayAgentOptions {
  kv: KvStore;
  subnetPrefix: string;
  port: NetlinkPort;
  /** ip-masq rules go here; undefined turns ip-masq off. */
  iptables: IptablesRunner | undefined;
  /** Must match the network config's backend when given. */
  backend?: BackendType;
  iface?: string;
  publicIp?: string;
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
    const underlay = await resolveUnderlay(o.port, o.iface, o.publicIp);
    const network = await backends[config.backend.type].setup(
      { publicIp: underlay.publicIp, underlay: underlay.link, underlayPrefix: underlay.prefix, config },
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
    const attrs =
      network.backendData === undefined
        ? { publicIp: underlay.publicIp, backendType: network.type }
        : { publicIp: underlay.publicIp, backendType: network.type, backendData: network.backendData };
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
    network.leasesChanged(leases, held.subnet);
    const desired = network.plan(leases, held.subnet);
    const refused = new Set(desired.refused.map((r) => `${r.subnet}: ${r.reason}`));
    for (const r of refused) if (!this.refusedLogged.has(r)) this.log.warn('cannot reach lease', { lease: r });
    this.refusedLogged = refused;
    await reconcileKernel(this.options.port, desired, { network: this.config.network, ownedIfindex: network.ownedIfindex }, this.log);
    this.lastSync = this.clock.now();
  }

  /** Makes the node's own side match its lease: device address, subnet.env, ip-masq. */
  private async adopt(held: Lease): Promise<void> {
    const network = this.network;
    const config = this.config;
    if (!network || !config) return;
    await network.configure(held.subnet);
    await writeSubnetEnv(this.options.subnetFile, {
      network: config.network,
      subnet: held.subnet,
      mtu: network.mtu,
      ipMasq: this.options.iptables !== undefined,
    });
    if (this.options.iptables) {
      const present = hasMasqJump(await this.options.iptables.save('nat'));
      await this.options.iptables.restore(compileIpMasq(config.network, held.subnet, present), { noflush: true });
    }
    this.log.info('node subnet ready', {
      subnet: held.subnet.text,
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
