import { Counter, Gauge } from 'prom-client';
import { registry } from '../observe/metrics.js';

const labelNames = ['service_port', 'protocol'] as const;

/** The service ports whose counters prom-client reads. */
const live = new Set<PortCounters>();

/**
 * One service port's connection figures, counted in plain fields on the
 * hot path: five labelled prom-client calls per connection (each hashing
 * its labels) were a visible part of a short connection's cost. prom-client
 * reads the fields when it collects. The counters' fields hold what was
 * counted since the last collection; `active` is the current figure.
 */
export class PortCounters {
  connections = 0;
  active = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Called before each collection, for figures counted elsewhere (the native relay's thread). */
  sync: (() => void) | undefined;
  readonly labels: { readonly service_port: string; readonly protocol: string };

  constructor(servicePort: string, protocol: 'TCP' | 'UDP') {
    this.labels = { service_port: servicePort, protocol };
    live.add(this);
  }

  /** The service port is gone: its series leave /metrics so it does not grow forever. */
  forget(): void {
    live.delete(this);
    const l = this.labels;
    proxyMetrics.activeConnections.remove(l);
    proxyMetrics.connections.remove(l);
    for (const direction of ['in', 'out']) proxyMetrics.bytes.remove({ ...l, direction });
    for (const reason of ['refused', 'timeout', 'error', 'no-endpoints']) proxyMetrics.dialFailures.remove({ ...l, reason });
  }
}

/**
 * The userspace proxy's figures per service port (`ns/name:port`). A UDP
 * "connection" is a client association. Dial failures carry the reason:
 * refused, timeout, error, or no-endpoints when nothing was ready.
 */
export const proxyMetrics = {
  activeConnections: new Gauge({
    name: 'keel_userspace_proxy_active_connections',
    help: 'Connections (TCP) or client associations (UDP) open through the userspace proxy',
    labelNames,
    registers: [registry],
    collect() {
      // Summed: a replaced listener may still drain connections under the same labels.
      this.reset();
      // Collected first of the port metrics (registration order), so the others see the synced figures.
      for (const p of live) p.sync?.();
      for (const p of live) this.inc(p.labels, p.active);
    },
  }),
  connections: new Counter({
    name: 'keel_userspace_proxy_connections_total',
    help: 'Connections (TCP) or client associations (UDP) accepted by the userspace proxy',
    labelNames,
    registers: [registry],
    collect() {
      for (const p of live) {
        this.inc(p.labels, p.connections);
        p.connections = 0;
      }
    },
  }),
  bytes: new Counter({
    name: 'keel_userspace_proxy_bytes_total',
    help: 'Bytes relayed; direction "in" is client to endpoint, "out" endpoint to client',
    labelNames: [...labelNames, 'direction'] as const,
    registers: [registry],
    collect() {
      for (const p of live) {
        this.inc({ ...p.labels, direction: 'in' }, p.bytesIn);
        this.inc({ ...p.labels, direction: 'out' }, p.bytesOut);
        p.bytesIn = 0;
        p.bytesOut = 0;
      }
    },
  }),
  dialFailures: new Counter({
    name: 'keel_userspace_proxy_endpoint_dial_failures_total',
    help: 'Endpoint dials that failed (the next endpoint is tried) or found no endpoint',
    labelNames: [...labelNames, 'reason'] as const,
    registers: [registry],
  }),
  skippedPorts: new Counter({
    name: 'keel_userspace_proxy_skipped_service_ports_total',
    help: 'Service ports the userspace proxy could not serve (unsupported protocol or family, no free proxy port)',
    registers: [registry],
  }),
  ruleSyncFailures: new Counter({
    name: 'keel_userspace_proxy_rule_sync_failures_total',
    help: 'Failed applications of the portal rules (retried on the next resync)',
    registers: [registry],
  }),
};

export type DialFailureReason = 'refused' | 'timeout' | 'error' | 'no-endpoints';
