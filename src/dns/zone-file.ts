import { isInZone } from './dns-names.js';
import type { RecordIndex, Rr } from './records.js';

/** One record as a zone-file line: `web.default.svc.cluster.local. 5 IN A 10.96.0.20`. */
export function formatRr(rr: Rr): string {
  return `${rr.name}. ${rr.ttl} IN ${rr.type} ${formatData(rr)}`;
}

function formatData(rr: Rr): string {
  switch (rr.type) {
    case 'A':
    case 'AAAA':
      return rr.data;
    case 'CNAME':
    case 'PTR':
    case 'NS':
      return `${rr.data}.`;
    case 'SRV':
      return `${rr.data.priority} ${rr.data.weight} ${rr.data.port} ${rr.data.target}.`;
    case 'TXT':
      return rr.data.map((s) => JSON.stringify(s)).join(' ');
    case 'SOA': {
      const d = rr.data;
      return `${d.mname}. ${d.rname}. ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    }
  }
}

/**
 * The records of one zone as a master file (SOA first), so that another
 * server (knot in the benchmark) can serve exactly what keel serves.
 */
export function renderZoneFile(index: RecordIndex, zone: string): string {
  const soa = index.soa.get(zone);
  const lines = soa ? [formatRr(soa)] : [];
  const inner = index.zones.filter((z) => z !== zone && isInZone(z, zone));
  for (const [name, node] of [...index.names].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!isInZone(name, zone) || inner.some((z) => isInZone(name, z))) continue;
    for (const list of node.values()) for (const rr of list) if (rr !== soa) lines.push(formatRr(rr));
  }
  return `${lines.join('\n')}\n`;
}
