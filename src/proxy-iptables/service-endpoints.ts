import type { Endpoints } from '../api/endpoints.js';
import type { Service, ServicePort } from '../api/service.js';
import { sepChain } from './chain-names.js';
import { cat } from './rule-text.js';

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
      if (a.ip.includes(':')) continue;
      const address = cat(a.ip, ':', String(ep.port));
      if (seen.has(address)) continue;
      seen.set(address, { ip: a.ip, port: ep.port, address, local: a.nodeName === nodeName, chain: sepChain(spn, port.protocol, address) });
    }
  }
  return [...seen.values()].map((e) => ({ e, k: ipv4Number(e.ip) * 65_536 + e.port })).sort((x, y) => x.k - y.k).map((x) => x.e);
}

/** Addresses here are validated canonical IPv4 text; a plain split is enough (and much cheaper than a parser). */
function ipv4Number(ip: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = ip.split('.').map(Number);
  return ((a * 256 + b) * 256 + c) * 256 + d;
}
