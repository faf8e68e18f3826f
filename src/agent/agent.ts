import { setMaxListeners } from 'node:events';
import { isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { IpFamily } from '../api/ip.js';
import { needsHealthCheck } from '../api/service.js';
import { DnsService } from '../dns/dns-service.js';
import { parseUpstreams, upstreamsFromResolvConf } from '../dns/forward.js';
import { recursionPolicy } from '../dns/recursion-policy.js';
import { parseListenList } from '../dns/server.js';
import { parsePortRange } from '../ipam/node-ports.js';
import { RestoreRunner } from '../kernel/iptables/restore-runner.js';
import { createLogger, type Logger } from '../observe/log.js';
import { RtNetlinkPort } from '../kernel/netlink/netlink-port.js';
import { OverlayAgent } from '../overlay/overlay-agent.js';
import { DEFAULT_MASQUERADE_BIT } from '../proxy-iptables/compile.js';
import { ConntrackTool, conntrackTcpLiberal } from '../kernel/conntrack/conntrack.js';
import { resolveNodePortAddresses } from '../proxy-iptables/nodeport-addresses.js';
import { serviceHealthChecks, ServiceHealthServers } from '../proxy-iptables/service-health.js';
import { SyncLoop } from '../proxy-iptables/sync-loop.js';
import { NfTablesSocket } from '../kernel/nftables/nf-tables-batch.js';
import { NftCommand } from '../kernel/nftables/nft-runner.js';
import { NftSyncLoop } from '../proxy-nftables/nft-sync-loop.js';
import { UserspaceProxier } from '../proxy-userspace/userspace-proxier.js';
import { ServiceViews } from '../service-view/service-views.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { ClusterWatch } from '../watch/cluster-watch.js';
import { configCidr, type AgentConfig, type AgentDnsConfig, type OverlayConfig, type ProxyConfig } from './agent-config.js';
import { healthReport, type HealthSource } from './health.js';
import { nodeIpOf } from './node-ip.js';
import { serveHttpEndpoints } from './http-endpoints.js';
import { serveProxyHealthz } from './proxy-healthz.js';

/**
 * A part of the agent: built from the config (building starts nothing),
 * asked for health. `start(signal)` resolves after its first successful
 * sync and it stops on abort; `closed()`, where given, resolves once it has
 * let go of what it holds after the abort.
 */
export interface AgentComponent extends HealthSource {
  start(signal: AbortSignal): Promise<void>;
  closed?(): Promise<void>;
}

/**
 * The composition root of every long-running keel command (`keel agent`,
 * `keel dns`, `keel network run`): the only place that builds the etcd
 * client, the watch and the node's programmers, and ties them together.
 * SIGTERM and SIGINT stop it without flushing rules or routes, so traffic
 * keeps flowing while it is away; a restarted agent adopts what it finds.
 */
export async function runAgent(config: AgentConfig): Promise<void> {
  const log = createLogger(config.name);
  // A process named after its only component logs as that component did on its own.
  const logOf = (component: string): Logger => (component === config.name ? log : log.child(component));
  const controller = new AbortController();
  const { signal } = controller;
  // Every component, informer and timer listens on this one signal.
  setMaxListeners(100, signal);
  const stop = (sig: string) => () => {
    log.info(config.proxy || config.overlay ? 'stopping; iptables/nftables rules and routes stay in place' : 'stopping', { signal: sig });
    controller.abort();
  };
  process.once('SIGTERM', stop('SIGTERM'));
  process.once('SIGINT', stop('SIGINT'));

  const client = createEtcdClient(config.etcd);
  const kv = new KvStore(client, config.etcd.endpoints);
  // Only the proxy and DNS read the registry.
  const watch =
    config.proxy || config.dns
      ? new ClusterWatch({
          store: kv,
          prefix: config.registryPrefix,
          logger: log.child('watch'),
          ...(config.endpointsSource ? { endpointsSource: config.endpointsSource } : {}),
        })
      : undefined;
  const netlink = config.overlay ? new RtNetlinkPort() : undefined;
  const components = [
    ...(config.overlay && netlink
      ? [overlayComponent(config.overlay, config.registryPrefix, config.healthPeriodMs, kv, netlink, logOf('overlay'))]
      : []),
    ...(config.proxy && watch ? [proxyComponent(config.proxy, watch, logOf(`proxy-${config.proxy.mode}`))] : []),
    ...(config.dns && watch ? [dnsComponent(config.dns, watch, logOf('dns'))] : []),
  ];

  if (config.metricsBindAddress) {
    await serveHttpEndpoints(
      config.metricsBindAddress,
      [...(watch ? [watchHealth(watch, config.healthPeriodMs)] : []), ...components],
      signal,
    );
  }
  log.info('starting', {
    node: config.proxy?.nodeName,
    nodeIp: config.proxy?.nodeIps.join(','),
    proxyMode: config.proxy?.mode ?? 'none',
    backend: config.overlay ? (config.overlay.backend ?? 'network config') : 'none',
    dns: config.dns !== undefined,
    etcd: config.etcd.endpoints.join(','),
  });
  try {
    await Promise.all([...components.map((c) => c.start(signal)), watch?.start(signal)]);
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    controller.abort();
    await Promise.all(components.map(async (c) => c.closed?.()));
    netlink?.close();
    client.close();
  }
}

/**
 * The families the proxy programs: those of --cluster-cidr (one range per
 * family) and of the node IPs, each with its own pod range.
 */
function proxyFamilies(config: ProxyConfig): { family: IpFamily; clusterCidr: string | undefined }[] {
  const cidrs = config.clusterCidr.split(',').map((t) => configCidr('--cluster-cidr', t.trim()));
  const families = new Set<IpFamily>([...cidrs.map((c) => c.family), ...config.nodeIps.map((ip) => (isIPv6(ip) ? 6 : 4) as IpFamily)]);
  return ([4, 6] as const)
    .filter((f) => families.has(f))
    .map((family) => ({ family, clusterCidr: cidrs.find((c) => c.family === family)?.text }));
}

/** --nodeport-addresses against this node's interface addresses of one family, as they are now. */
function nodePortAddressesNow(config: ProxyConfig, family: IpFamily): string[] | undefined {
  const local = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
  return resolveNodePortAddresses(config.nodePortAddresses, local, config.nodeIps, family);
}

function proxyComponent(config: ProxyConfig, watch: ClusterWatch, logger: Logger): AgentComponent {
  const runner = new RestoreRunner({ backend: config.iptablesBackend });
  if (config.mode === 'iptables' || config.mode === 'nftables') {
    // kube-proxy's MetaProxier: one proxier per family the node runs, each with its own tables, sync state and
    // conntrack; in nftables mode the `ip keel` and `ip6 keel` tables (kube-proxy: `ip kube-proxy`, `ip6 kube-proxy`).
    const loops = proxyFamilies(config).map(({ family, clusterCidr }) => {
      const nodePortAddresses = nodePortAddressesNow(config, family);
      const common = {
        node: {
          nodeName: config.nodeName,
          ...(family === 6 ? { family } : {}),
          // A family without a node IP programs no NodePort DNAT on a node address, as before --node-ip took a pair.
          nodeIPs: config.nodeIps.filter((ip) => isIPv6(ip) === (family === 6)),
          masqueradeBit: DEFAULT_MASQUERADE_BIT,
          ...(clusterCidr ? { clusterCidr } : {}),
          conntrackTcpLiberal: conntrackTcpLiberal(),
          ...(nodePortAddresses ? { nodePortAddresses } : {}),
        },
        // Only CIDRs pick addresses: unset (every local address) has nothing to follow.
        ...(nodePortAddresses ? { nodePortAddresses: () => nodePortAddressesNow(config, family) } : {}),
        conntrack: new ConntrackTool(undefined, family),
        syncPeriodMs: config.syncPeriodMs,
        minSyncPeriodMs: config.minSyncPeriodMs,
        logger: family === 6 ? logger.child('ipv6') : logger,
      };
      return config.mode === 'iptables'
        ? new SyncLoop({ runner: family === 4 ? runner : new RestoreRunner({ backend: config.iptablesBackend, family }), ...common })
        : new NftSyncLoop({
            port: new NftCommand(),
            family: family === 6 ? 'ip6' : 'ip',
            direct: new NfTablesSocket(),
            ...common,
          });
    });
    for (const l of loops) watch.subscribe(l.update);
    // Synced when every family's tables are: the oldest family's last success.
    const loop = {
      lastSuccess: (): number | undefined => {
        const times = loops.map((l) => l.lastSuccess());
        return times.every((t) => t !== undefined) ? Math.min(...(times as number[])) : undefined;
      },
      start: async (signal: AbortSignal): Promise<void> => {
        await Promise.all(loops.map((l) => l.start(signal)));
      },
    };
    const name = `proxy-${config.mode}`;
    const source: HealthSource = {
      name,
      ready: () => loop.lastSuccess() !== undefined,
      lastSuccess: () => loop.lastSuccess(),
      periodMs: () => config.syncPeriodMs,
    };
    const health = new ServiceHealthServers({ proxyHealthy: () => healthReport([source], Date.now()).ok, logger });
    // Only LoadBalancers with externalTrafficPolicy Local have a health check: the others are neither projected
    // nor walked, and a change that moved none of them leaves the servers alone (per change: the change, not the cluster).
    const healthViews = new ServiceViews({ nodeName: config.nodeName, logger, only: needsHealthCheck });
    watch.subscribe((snap, changed) => {
      if (healthViews.apply(snap, changed).size) health.sync(serviceHealthChecks(healthViews.all()));
    });
    return {
      name,
      start: async (signal) => {
        signal.addEventListener('abort', () => health.close(), { once: true });
        await serveProxyHealthz(config.healthzBindAddress, [source], signal);
        await loop.start(signal);
      },
      ready: () => loop.lastSuccess() !== undefined,
      lastSuccess: () => loop.lastSuccess(),
      periodMs: () => config.syncPeriodMs,
    };
  }
  if (config.nodePortAddresses !== undefined)
    // kube-proxy's userspace proxier took the flag and never used it: NodePorts answer on every local address there too.
    logger.warn('--nodeport-addresses is ignored in userspace mode: NodePorts answer on every local address, as in kube-proxy', {
      nodePortAddresses: config.nodePortAddresses,
    });
  const proxier = new UserspaceProxier({
    runner,
    // The userspace proxy is IPv4 only, as the legacy proxier was.
    node: { nodeIP: nodeIpOf(config.nodeIps, 4) ?? config.nodeIps[0] ?? '' },
    udpTimeoutMs: config.udpTimeoutMs,
    relay: config.userspaceRelay,
    syncPeriodMs: config.syncPeriodMs,
    logger,
    ...(config.portRange ? { portRange: parsePortRange(config.portRange, '--proxy-port-range') } : {}),
  });
  watch.subscribe(proxier.update);
  const source: HealthSource = {
    name: 'proxy-userspace',
    ready: () => proxier.lastSuccess() !== undefined,
    lastSuccess: () => proxier.lastSuccess(),
    periodMs: () => config.syncPeriodMs,
  };
  return {
    name: 'proxy-userspace',
    start: async (signal) => {
      await serveProxyHealthz(config.healthzBindAddress, [source], signal);
      await proxier.start(signal);
    },
    ready: () => proxier.lastSuccess() !== undefined,
    lastSuccess: () => proxier.lastSuccess(),
    periodMs: () => config.syncPeriodMs,
    closed: () => proxier.stop(),
  };
}

function overlayComponent(
  config: OverlayConfig,
  registryPrefix: string,
  healthPeriodMs: number,
  kv: KvStore,
  netlink: RtNetlinkPort,
  logger: Logger,
): AgentComponent {
  const overlay = new OverlayAgent({
    kv,
    subnetPrefix: config.subnetPrefix,
    port: netlink,
    iptables: config.ipMasq ? new RestoreRunner({ backend: config.iptablesBackend }) : undefined,
    ip6tables: config.ipMasq ? new RestoreRunner({ backend: config.iptablesBackend, family: 6 }) : undefined,
    subnetFile: config.subnetFile,
    logger,
    subnets: config.subnetSource === 'node' ? { source: 'node', registryPrefix, nodeName: config.nodeName } : { source: 'etcd' },
    ...(config.backend ? { backend: config.backend } : {}),
    ...(config.iface ? { iface: config.iface } : {}),
    ...(config.publicIp ? { publicIp: config.publicIp } : {}),
    ...(config.publicIpv6 ? { publicIpv6: config.publicIpv6 } : {}),
    ...(config.leaseTtlSeconds ? { leaseTtlSeconds: config.leaseTtlSeconds } : {}),
  });
  return {
    name: 'overlay',
    start: (signal) => overlay.start(signal),
    ready: () => overlay.lease() !== undefined,
    lastSuccess: () => overlay.lastSuccess(),
    periodMs: () => healthPeriodMs,
    closed: () => overlay.closed(),
  };
}

function dnsComponent(config: AgentDnsConfig, watch: ClusterWatch, logger: Logger): AgentComponent {
  const upstreams = config.upstream ? parseUpstreams(config.upstream) : upstreamsFromResolvConf();
  logger.info('upstreams', { upstream: upstreams.map((u) => `${u.host}:${u.port}`).join(',') || 'none (foreign names refused)' });
  return new DnsService({
    config: {
      zone: config.zone,
      ttl: config.ttl,
      serviceCidrs: config.serviceCidrs,
      podCidrs: config.podCidrs,
      nsAddresses: config.nodeIps,
      podRecords: config.podRecords,
    },
    listen: parseListenList(config.listen),
    source: watch,
    upstreams,
    recursionAllowed: recursionPolicy(config.podCidrs, config.nodeIps),
    logger,
    udpThreads: { count: config.workers, recursion: { clusterCidrs: config.podCidrs, nodeAddresses: config.nodeIps } },
  });
}

function watchHealth(watch: ClusterWatch, periodMs: number): HealthSource {
  let lastConnected: number | undefined;
  return {
    name: 'watch',
    ready: () => watch.hasSynced(),
    lastSuccess: () => {
      if (watch.hasSynced() && watch.isConnected()) lastConnected = Date.now();
      return lastConnected;
    },
    periodMs: () => periodMs,
  };
}
