import type { IpFamily } from '../api/ip.js';
import type { PortEndpoint, ServicePortView, ServiceView } from '../service-view/service-view.js';
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
 * too with publishNotReadyAddresses), of the tables' family only,
 * in the view's address order, each with its KUBE-SEP chain. With no such
 * endpoint, the ones still serving while terminating (kube-proxy
 * pkg/proxy/topology.go CategorizeEndpoints, ProxyTerminatingEndpoints):
 * a rolling update that leaves only terminating pods keeps answering.
 */
export function resolveEndpoints(view: ServiceView, port: ServicePortView, family: IpFamily = 4): ResolvedEndpoint[] {
  return pick(view, port, family, () => true);
}

/** The same choice among this node's endpoints alone (the Local traffic policies' set), its fallback judged locally. */
export function resolveLocalEndpoints(view: ServiceView, port: ServicePortView, family: IpFamily = 4): ResolvedEndpoint[] {
  return pick(view, port, family, (e) => e.isLocal);
}

function pick(view: ServiceView, port: ServicePortView, family: IpFamily, where: (e: PortEndpoint) => boolean): ResolvedEndpoint[] {
  const own = port.endpoints.filter((e) => e.ip.family === family && where(e));
  const ready = own.filter((e) => e.ready || view.publishNotReadyAddresses);
  const chosen = ready.length ? ready : own.filter((e) => e.serving && e.terminating);
  return chosen.map((e) => ({
    ip: e.ip.text,
    port: e.port,
    address: e.address,
    local: e.isLocal,
    chain: sepChain(port.servicePortName, port.protocol, e.address),
  }));
}
