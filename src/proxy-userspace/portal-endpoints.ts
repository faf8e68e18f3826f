import type { ServicePortView } from '../service-view/service-view.js';

/**
 * The endpoints ("ip:port") one portal sends new connections to: the ready
 * IPv4 ones (not-ready addresses never receive connections here, whatever
 * publishNotReadyAddresses says; the userspace proxy serves IPv4 only).
 */
export function portalEndpoints(port: ServicePortView): string[] {
  return port.endpoints.flatMap((e) => (e.ready && e.ip.family === 4 ? [e.address] : []));
}
