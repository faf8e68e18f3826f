import type { ServicePortView, ServiceView } from '../service-view/service-view.js';
import { sepChain } from './chain-names.js';

export interface ResolvedEndpoint {
  readonly ip: string;
  readonly port: number;
  /** `ip:port`, kube-proxy's endpoint string (hashed into the SEP name). */
  readonly address: string;
  readonly local: boolean;
  readonly chain: string;
}

/**
 * The endpoints a service port's chains send to: ready ones (not-ready ones
 * too with publishNotReadyAddresses), IPv4 only (these are the IPv4 tables),
 * in the view's address order, each with its KUBE-SEP chain.
 */
export function resolveEndpoints(view: ServiceView, port: ServicePortView): ResolvedEndpoint[] {
  const out: ResolvedEndpoint[] = [];
  for (const e of port.endpoints) {
    if (e.ip.family !== 4 || !(e.ready || view.publishNotReadyAddresses)) continue;
    out.push({ ip: e.ip.text, port: e.port, address: e.address, local: e.isLocal, chain: sepChain(port.servicePortName, port.protocol, e.address) });
  }
  return out;
}
