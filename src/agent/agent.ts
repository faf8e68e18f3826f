import { setMaxListeners } from 'node:events';
import { ConfigError } from '../api/errors.js';
import { parseCidr, type Cidr } from '../api/ip.js';
import { DnsService } from '../dns/dns-service.js';
import { parseUpstreams, upstreamsFromResolvConf } from '../dns/forward.js';
import { recursionPolicy } from '../dns/recursion-policy.js';
import { parseListen } from '../dns/server.js';
import { parsePortRange } from '../ipam/node-ports.js';
import { RestoreRunner } from '../kernel/iptables/restore-runner.js';
import { createLogger } from '../observe/log.js';
import { RtNetlinkPort } from '../kernel/netlink/netlink-port.js';
import { OverlayAgent } from '../overlay/overlay-agent.js';
import { DEFAULT_MASQUERADE_BIT } from '../proxy-iptables/compile.js';
import { ConntrackTool, conntrackTcpLiberal } from '../kernel/conntrack/conntrack.js';
import { SyncLoop } from '../proxy-iptables/sync-loop.js';
import { UserspaceProxier } from '../proxy-userspace/userspace-proxier.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { ClusterWatch } from '../watch/cluster-watch.js';
import type { AgentConfig } from './agent-config.js';
import type { HealthSource } from './health.js';
import { serveHttpEndpoints } from './http-endpoints.js';

const log = createLogger('agent');

/** A part of the agent: built from the config, started once, asked for health. */
export interface AgentComponent extends HealthSource {
  start(signal: AbortSignal): Promise<void>;
}

/**
 * The composition root: the only place that builds the etcd client, the
 * watch and the node's programmers, and ties them together. SIGTERM and
 * SIGINT stop it without flushing rules or routes, so traffic keeps
 * flowing while it is away; a restarted agent adopts what it finds.
 */
export async function runAgent(config: AgentConfig): Promise<void> {
  const controller = new AbortController();
  const { signal } = controller;
  // Every component, informer and timer listens on this one signal.
  setMaxListeners(100, signal);
  const stop = (sig: string) => () => {
    log.info('stopping; iptables rules and routes stay in place', { signal: sig });
    controller.abort();
  };
  process.once('SIGTERM', stop('SIGTERM'));
  process.once('SIGINT', stop('SIGINT'));

  const client = createEtcdClient(config.etcd);
  const kv = new KvStore(client, config.etcd.endpoints);
  const watch = new ClusterWatch({ store: kv, prefix: config.registryPrefix, logger: log.child('watch') });
  const netlink = config.backend === 'none' ? undefined : new RtNetlinkPort();
  const components = [
    ...(config.backend === 'none' ? [] : [overlayComponent(config, kv, netlink as RtNetlinkPort)]),
    ...proxyComponents(config, watch),
    ...(config.dns ? [dnsComponent(config, watch)] : []),
  ];

  await serveHttpEndpoints(config.metricsBindAddress, [watchHealth(watch, config), ...components], signal);
  log.info('starting', {
    node: config.nodeName, nodeIp: config.nodeIp, proxyMode: config.proxyMode, backend: config.backend, dns: config.dns,
    etcd: config.etcd.endpoints.join(','),
  });
  try {
    await Promise.all([...components.map((c) => c.start(signal)), watch.start(signal)]);
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    controller.abort();
    netlink?.close();
    client.close();
  }
}

function proxyComponents(config: AgentConfig, watch: ClusterWatch): AgentComponent[] {
  if (config.proxyMode === 'none') return [];
  const runner = new RestoreRunner({ backend: config.iptablesBackend });
  const logger = log.child(`proxy-${config.proxyMode}`);
  if (config.proxyMode === 'iptables') {
    const loop = new SyncLoop({
      runner,
      node: {
        nodeName: config.nodeName, nodeIPs: [config.nodeIp], masqueradeBit: DEFAULT_MASQUERADE_BIT,
        clusterCidr: cidr('--cluster-cidr', config.clusterCidr).text, conntrackTcpLiberal: conntrackTcpLiberal(),
      },
      conntrack: new ConntrackTool(),
      syncPeriodMs: config.iptablesSyncPeriodMs,
      minSyncPeriodMs: config.iptablesMinSyncPeriodMs,
      logger,
    });
    watch.subscribe(loop.update);
    return [{
      name: 'proxy-iptables',
      start: (signal) => loop.start(signal),
      ready: () => loop.lastSuccess() !== undefined,
      lastSuccess: () => loop.lastSuccess(),
      periodMs: () => config.iptablesSyncPeriodMs,
    }];
  }
  const proxier = new UserspaceProxier({
    runner,
    node: { nodeIP: config.nodeIp },
    udpTimeoutMs: config.udpTimeoutMs,
    syncPeriodMs: config.iptablesSyncPeriodMs,
    logger,
    ...(config.proxyPortRange ? { portRange: parsePortRange(config.proxyPortRange, '--proxy-port-range') } : {}),
  });
  watch.subscribe(proxier.update);
  return [{
    name: 'proxy-userspace',
    start: (signal) => proxier.start(signal),
    ready: () => proxier.lastSuccess() !== undefined,
    lastSuccess: () => proxier.lastSuccess(),
    periodMs: () => config.iptablesSyncPeriodMs,
  }];
}

function overlayComponent(config: AgentConfig, kv: KvStore, netlink: RtNetlinkPort): AgentComponent {
  const overlay = new OverlayAgent({
    kv,
    subnetPrefix: config.subnetPrefix,
    port: netlink,
    iptables: new RestoreRunner({ backend: config.iptablesBackend }),
    subnetFile: config.subnetFile,
    publicIp: config.nodeIp,
    logger: log.child('overlay'),
    ...(config.backend === 'none' ? {} : { backend: config.backend }),
    ...(config.iface ? { iface: config.iface } : {}),
  });
  return {
    name: 'overlay',
    start: (signal) => overlay.start(signal),
    ready: () => overlay.lease() !== undefined,
    lastSuccess: () => overlay.lastSuccess(),
    periodMs: () => config.iptablesSyncPeriodMs,
  };
}

function dnsComponent(config: AgentConfig, watch: ClusterWatch): AgentComponent {
  const podCidrs = [cidr('--cluster-cidr', config.clusterCidr)];
  const dns = new DnsService({
    config: {
      zone: config.clusterDomain,
      ttl: config.dnsTtl,
      serviceCidrs: config.serviceClusterIpRange.split(',').map((s) => cidr('--service-cluster-ip-range', s.trim())),
      podCidrs,
      nsAddresses: [config.nodeIp],
      podRecords: config.podRecords,
    },
    listen: parseListen(config.dnsListen),
    source: watch,
    upstreams: config.upstream ? parseUpstreams(config.upstream) : upstreamsFromResolvConf(),
    recursionAllowed: recursionPolicy(podCidrs, [config.nodeIp]),
    logger: log.child('dns'),
  });
  return dns;
}

function watchHealth(watch: ClusterWatch, config: AgentConfig): HealthSource {
  let lastConnected: number | undefined;
  return {
    name: 'watch',
    ready: () => watch.hasSynced(),
    lastSuccess: () => {
      if (watch.hasSynced() && watch.isConnected()) lastConnected = Date.now();
      return lastConnected;
    },
    periodMs: () => config.iptablesSyncPeriodMs,
  };
}

function cidr(flag: string, text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new ConfigError(flag, `${JSON.stringify(text)} is not a CIDR`);
  return c;
}

