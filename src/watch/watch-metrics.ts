import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../observe/metrics.js';

/** The watch layer's figures, labelled by resource (`services`, `endpoints`, `pods`). */
export const watchMetrics = {
  events: new Counter({
    name: 'keel_watch_events_total',
    help: 'Cache changes applied by informers, by type (add, update, delete).',
    labelNames: ['resource', 'type'] as const,
    registers: [registry],
  }),
  relists: new Counter({
    name: 'keel_watch_relists_total',
    help: 'Full relists after the watched revision was compacted away.',
    labelNames: ['resource'] as const,
    registers: [registry],
  }),
  reconnects: new Counter({
    name: 'keel_watch_reconnects_total',
    help: 'Watches re-established after a dropped connection.',
    labelNames: ['resource'] as const,
    registers: [registry],
  }),
  invalid: new Counter({
    name: 'keel_watch_invalid_objects_total',
    help: 'Stored values skipped because they failed to decode or validate.',
    labelNames: ['resource'] as const,
    registers: [registry],
  }),
  ignoredFields: new Counter({
    name: 'keel_watch_ignored_fields_total',
    help: 'Entries of stored objects left out because they do not parse, the rest of the object used (as kube-proxy does), by field.',
    labelNames: ['resource', 'field'] as const,
    registers: [registry],
  }),
  lastSyncRevision: new Gauge({
    name: 'keel_watch_last_sync_revision',
    help: 'The etcd revision the informer cache reflects.',
    labelNames: ['resource'] as const,
    registers: [registry],
  }),
  lagRevisions: new Gauge({
    name: 'keel_watch_lag_revisions',
    help: "How many revisions the last watch response trailed etcd's head (0 when caught up).",
    labelNames: ['resource'] as const,
    registers: [registry],
  }),
  deliveryDelay: new Histogram({
    name: 'keel_watch_delivery_delay_seconds',
    help: 'From the first change a consumer had not seen to the start of the call that delivers it (coalescing plus a busy consumer).',
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [registry],
  }),
  connected: new Gauge({
    name: 'keel_watch_connected',
    help: "1 while the informer's watch stream is established.",
    labelNames: ['resource'] as const,
    registers: [registry],
  }),
};
