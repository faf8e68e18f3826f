import type { IpFamily } from '../api/ip.js';
import type { PortEndpoint, ServicePortView, ServiceView } from '../service-view/service-view.js';
import { sepChainsOf } from './chain-names.js';

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

/** One pass, no intermediate lists: compile runs this for every service port on every full sync. */
function pick(view: ServiceView, port: ServicePortView, family: IpFamily, where: (e: PortEndpoint) => boolean): ResolvedEndpoint[] {
  const chainOf = sepChainsOf(port.servicePortName, port.protocol);
  const chosen: ResolvedEndpoint[] = [];
  let fallback: PortEndpoint[] | undefined;
  for (const e of port.endpoints) {
    if (e.ip.family !== family || !where(e)) continue;
    if (e.ready || view.publishNotReadyAddresses) chosen.push(resolved(e, chainOf));
    else if (chosen.length === 0 && e.serving && e.terminating) (fallback ??= []).push(e);
  }
  return chosen.length || !fallback ? chosen : fallback.map((e) => resolved(e, chainOf));
}

function resolved(e: PortEndpoint, chainOf: (endpoint: string) => string): ResolvedEndpoint {
  return { ip: e.ip.text, port: e.port, address: e.address, local: e.isLocal, chain: chainOf(e.address) };
}
