import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../observe/metrics.js';

/** The sync metrics of both proxy modes (ProxySyncLoop): kube-proxy's names where it has them (keel_ instead of kubeproxy_). */
const buckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const syncDuration = new Histogram({
  name: 'keel_sync_proxy_rules_duration_seconds',
  help: 'Time one sync of the proxy rules takes (compile, diff, iptables-restore or nft/netlink transaction).',
  labelNames: ['kind'] as const,
  buckets,
  registers: [registry],
});

export const programmingDuration = new Histogram({
  name: 'keel_network_programming_duration_seconds',
  help: 'Time from a Service/Endpoints change reaching the proxy to its rules being in the kernel.',
  buckets,
  registers: [registry],
});

export const lastSync = new Gauge({
  name: 'keel_sync_proxy_rules_last_timestamp_seconds',
  help: 'When the last successful sync of the proxy rules finished (unix seconds).',
  registers: [registry],
});

export const syncsTotal = new Counter({
  name: 'keel_sync_proxy_rules_total',
  help: 'Successful syncs of the proxy rules, by kind (full resync or partial).',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const restoreFailures = new Counter({
  name: 'keel_iptables_restore_failures_total',
  help: 'Syncs the kernel refused, iptables-restore or nftables transactions (the previous rules stay).',
  registers: [registry],
});

export const canaryLost = new Counter({
  name: 'keel_iptables_canary_lost_total',
  help: "Periodic syncs that found keel's rules gone or flushed (iptables: the KUBE-KEEL-CANARY chain; nftables: the services chain) and resynced fully.",
  registers: [registry],
});
