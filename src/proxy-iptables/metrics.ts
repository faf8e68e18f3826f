import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../observe/metrics.js';

/** kube-proxy's names where it has them (keel_ instead of kubeproxy_). */
const buckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const syncDuration = new Histogram({
  name: 'keel_sync_proxy_rules_duration_seconds',
  help: 'Time one iptables sync takes (compile, diff, restore).',
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

export const rulesTotal = new Gauge({
  name: 'keel_sync_proxy_rules_iptables_total',
  help: 'Rules keel holds in each table after the last sync, per IP family (iptables and ip6tables).',
  labelNames: ['table', 'ip_family'] as const,
  registers: [registry],
});

export const lastSync = new Gauge({
  name: 'keel_sync_proxy_rules_last_timestamp_seconds',
  help: 'When the last successful iptables sync finished (unix seconds).',
  registers: [registry],
});

export const syncsTotal = new Counter({
  name: 'keel_sync_proxy_rules_total',
  help: 'Successful iptables syncs, by kind (full resync or partial).',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const restoreFailures = new Counter({
  name: 'keel_iptables_restore_failures_total',
  help: 'iptables-restore runs that failed (the previous rules stay).',
  registers: [registry],
});

export const chainsWritten = new Counter({
  name: 'keel_sync_proxy_rules_chains_written_total',
  help: 'Chains rewritten or deleted by syncs (what a diff against the kernel found different).',
  labelNames: ['op'] as const,
  registers: [registry],
});

export const canaryLost = new Counter({
  name: 'keel_iptables_canary_lost_total',
  help: 'Periodic syncs that found the KUBE-KEEL-CANARY chain gone or flushed and resynced fully.',
  registers: [registry],
});
