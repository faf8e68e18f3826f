import { createLogger } from '../observe/log.js';
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
  const stop = (sig: string) => () => {
    log.info('stopping; rules and routes are left in place', { signal: sig });
    controller.abort();
  };
  process.once('SIGTERM', stop('SIGTERM'));
  process.once('SIGINT', stop('SIGINT'));

  const client = createEtcdClient(config.etcd);
  const kv = new KvStore(client, config.etcd.endpoints);
  const watch = new ClusterWatch({ store: kv, prefix: config.registryPrefix });
  const components = buildComponents(config, kv, watch);

  await serveHttpEndpoints(config.metricsBindAddress, [watchHealth(watch, config), ...components], signal);
  log.info('starting', {
    node: config.nodeName, nodeIp: config.nodeIp, proxyMode: config.proxyMode, backend: config.backend, dns: config.dns,
    etcd: config.etcd.endpoints.join(','),
  });
  try {
    await Promise.all([watch.start(signal), ...components.map((c) => c.start(signal))]);
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    controller.abort();
    client.close();
  }
}

function buildComponents(_config: AgentConfig, _kv: KvStore, _watch: ClusterWatch): AgentComponent[] {
  return [];
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
