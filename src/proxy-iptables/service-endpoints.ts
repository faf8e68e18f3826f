import { parseIp } from '../api/ip.js';
import type { Endpoints } from '../api/endpoints.js';
import type { Service, ServicePort } from '../api/service.js';
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
 * The endpoints one service port sends to. The Endpoints object already
 * carries resolved numbers: the endpoint port whose name equals the service
 * port's name is the one (so a named targetPort resolves per endpoint).
 * Not-ready addresses count only with publishNotReadyAddresses.
 */
export function resolveEndpoints(svc: Service, port: ServicePort, spn: string, eps: Endpoints | undefined, nodeName: string): ResolvedEndpoint[] {
  if (!eps) return [];
  const wanted = port.name ?? '';
  const seen = new Map<string, ResolvedEndpoint>();
  for (const subset of eps.subsets) {
    const ep = subset.ports.find((p) => (p.name ?? '') === wanted && p.protocol === port.protocol);
    if (!ep) continue;
    const addrs = svc.spec.publishNotReadyAddresses ? [...subset.addresses, ...subset.notReadyAddresses] : subset.addresses;
    for (const a of addrs) {
      if (parseIp(a.ip)?.family !== 4) continue;
      const address = `${a.ip}:${ep.port}`;
      if (seen.has(address)) continue;
      seen.set(address, { ip: a.ip, port: ep.port, address, local: a.nodeName === nodeName, chain: sepChain(spn, port.protocol, address) });
    }
  }
  return [...seen.values()].sort(compareEndpoints);
}

function compareEndpoints(a: ResolvedEndpoint, b: ResolvedEndpoint): number {
  const x = parseIp(a.ip)?.value ?? 0n;
  const y = parseIp(b.ip)?.value ?? 0n;
  return x < y ? -1 : x > y ? 1 : a.port - b.port;
}
