import type { PortRange } from '../ipam/node-ports.js';
import type { ProxyPortMap } from './portal-rules.js';
import type { PortalName } from './service-portals.js';

/**
 * Chooses a local port from `--proxy-port-range` for each service port:
 * ports already held keep theirs (so rules and listeners stay put), new ones
 * take the lowest free port, in name order so the plan is reproducible.
 * Names left out of the result found the range exhausted.
 */
export function planProxyPorts(
  names: readonly PortalName[],
  range: PortRange,
  previous: ProxyPortMap,
  unusable: ReadonlySet<number> = new Set(),
): Map<PortalName, number> {
  const out = new Map<PortalName, number>();
  const taken = new Set(unusable);
  const sorted = [...names].sort();
  for (const name of sorted) {
    const port = previous.get(name);
    if (port !== undefined && port >= range.min && port <= range.max && !taken.has(port)) {
      out.set(name, port);
      taken.add(port);
    }
  }
  let next = range.min;
  for (const name of sorted) {
    if (out.has(name)) continue;
    while (next <= range.max && taken.has(next)) next++;
    if (next > range.max) break;
    out.set(name, next);
    taken.add(next);
  }
  return out;
}
