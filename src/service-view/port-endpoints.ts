import type { EndpointGroup, EndpointView, PortEndpoint } from './service-view.js';

/**
 * The one endpoint resolver: the endpoints of one service port are the
 * addresses of every group that has a port of the same name and protocol,
 * with that port's number (so a named targetPort resolves per endpoint).
 * One entry per `ip:port`; of an address listed twice (two subsets, or two
 * EndpointSlices of one service) the readiest listing counts — ready over
 * serving over neither — and among equals the local one, as kube-proxy's
 * EndpointSliceCache favours it. Sorted by family, address, port: the order
 * kube-proxy's probabilities and keel's golden files follow.
 */
export function portEndpoints(groups: readonly EndpointGroup[], name: string, protocol: string): PortEndpoint[] {
  const seen = new Map<string, PortEndpoint>();
  for (const group of groups) {
    const port = group.ports.find((p) => p.name === name && p.protocol === protocol);
    if (!port) continue;
    for (const e of group.endpoints) {
      // Flat strings (join, not +): the proxies keep these for every endpoint between syncs.
      const address = e.ip.family === 4 ? [e.ip.text, ':', String(port.port)].join('') : ['[', e.ip.text, ']:', String(port.port)].join('');
      const held = seen.get(address);
      if (held && (rank(held) > rank(e) || (rank(held) === rank(e) && (held.isLocal || !e.isLocal)))) continue;
      // Built field by field, not spread: the spreads' temporary objects were a tenth of projecting a service.
      const pe: { -readonly [K in keyof PortEndpoint]: PortEndpoint[K] } = {
        ip: e.ip,
        ready: e.ready,
        serving: e.serving,
        terminating: e.terminating,
        nodeName: e.nodeName,
        hostname: e.hostname,
        isLocal: e.isLocal,
        port: port.port,
        address,
      };
      if (e.zone !== undefined) pe.zone = e.zone;
      if (e.zoneHints !== undefined) pe.zoneHints = e.zoneHints;
      seen.set(address, pe);
    }
  }
  return [...seen.values()].sort(byAddress);
}

function rank(e: EndpointView): number {
  return e.ready ? 2 : e.serving ? 1 : 0;
}

function byAddress(a: PortEndpoint, b: PortEndpoint): number {
  if (a.ip.family !== b.ip.family) return a.ip.family - b.ip.family;
  if (a.ip.value !== b.ip.value) return a.ip.value < b.ip.value ? -1 : 1;
  return a.port - b.port;
}
