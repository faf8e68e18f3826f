import { Counter, Gauge } from 'prom-client';
import { registry } from '../observe/metrics.js';

const labelNames = ['service_port', 'protocol'] as const;

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
  }),
  connections: new Counter({
    name: 'keel_userspace_proxy_connections_total',
    help: 'Connections (TCP) or client associations (UDP) accepted by the userspace proxy',
    labelNames,
    registers: [registry],
  }),
  bytes: new Counter({
    name: 'keel_userspace_proxy_bytes_total',
    help: 'Bytes relayed; direction "in" is client to endpoint, "out" endpoint to client',
    labelNames: [...labelNames, 'direction'] as const,
    registers: [registry],
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

/** Forgets a deleted service port's series so /metrics does not grow forever. */
export function forgetPortMetrics(servicePort: string, protocol: string): void {
  const l = { service_port: servicePort, protocol };
  proxyMetrics.activeConnections.remove(l);
  proxyMetrics.connections.remove(l);
  for (const direction of ['in', 'out']) proxyMetrics.bytes.remove({ ...l, direction });
  for (const reason of ['refused', 'timeout', 'error', 'no-endpoints']) proxyMetrics.dialFailures.remove({ ...l, reason });
}
