import { Counter, Gauge } from 'prom-client';
import { registry } from '../observe/metrics.js';

/** iptables mode's own metrics; the sync metrics both modes keep are in proxy-sync/sync-metrics.ts. */

export const rulesTotal = new Gauge({
  name: 'keel_sync_proxy_rules_iptables_total',
  help: 'Rules keel holds in each table after the last sync, per IP family (iptables and ip6tables).',
  labelNames: ['table', 'ip_family'] as const,
  registers: [registry],
});

export const chainsWritten = new Counter({
  name: 'keel_sync_proxy_rules_chains_written_total',
  help: 'Chains rewritten or deleted by syncs (what a diff against the kernel found different).',
  labelNames: ['op'] as const,
  registers: [registry],
});
