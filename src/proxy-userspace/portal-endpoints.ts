import type { Endpoints } from '../api/endpoints.js';
import type { ServicePortal } from './service-portals.js';

/**
 * The ready endpoints ("ip:port") of one service port: addresses of every
 * subset whose port has the service port's name and protocol. Not-ready
 * addresses never receive new connections.
 */
export function portalEndpoints(portal: ServicePortal, endpoints: Endpoints | undefined): string[] {
  const out = new Set<string>();
  for (const subset of endpoints?.subsets ?? []) {
    const port = subset.ports.find((p) => (p.name ?? '') === portal.portName && p.protocol === portal.protocol);
    if (!port) continue;
    for (const a of subset.addresses) out.add(`${a.ip}:${port.port}`);
  }
  return [...out].sort();
}
