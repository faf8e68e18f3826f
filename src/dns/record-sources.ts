import { parseIp, type IpAddress } from '../api/ip.js';
import type { Pod } from '../api/pod.js';
import type { ServiceView } from '../service-view/service-view.js';
import { canonicalName, dashedIp, reverseName, reverseZone } from './dns-names.js';
import { DNS_SCHEMA_VERSION, type DnsConfig, type Rr } from './records.js';

/**
 * What one source puts in the zones — keel's own zone data, one service,
 * one pod: its records in order, and names that exist without a record of
 * their own. A pure function of the source, so a change to one service
 * rebuilds that service's share and nothing else.
 */
export interface RecordSource {
  readonly records: readonly Rr[];
  readonly names: readonly string[];
  /** The namespace a service or pod makes exist (insecure pod records answer inside it). */
  readonly namespace?: string;
}

/** The zone apexes in the order keel reads them: the cluster zone, then one reverse zone per configured range. */
export function zoneApexes(config: DnsConfig): string[] {
  return [canonicalName(config.zone), ...[...config.serviceCidrs, ...config.podCidrs].map(reverseZone)];
}

/** SOA and NS of every zone (the serial is the etcd revision), the name server's addresses, the schema version. */
export function zoneRecords(config: DnsConfig, revision: number): RecordSource {
  const zone = canonicalName(config.zone);
  const ttl = config.ttl;
  const nsName = `ns.dns.${zone}`;
  const records: Rr[] = [];
  for (const z of zoneApexes(config)) {
    records.push({
      name: z,
      type: 'SOA',
      ttl,
      data: {
        mname: nsName,
        rname: `hostmaster.${zone}`,
        serial: revision % 2 ** 32,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: ttl,
      },
    });
    records.push({ name: z, type: 'NS', ttl, data: nsName });
  }
  for (const text of config.nsAddresses ?? []) {
    const ip = parseIp(text);
    if (ip) records.push(address(nsName, ip, ttl));
  }
  records.push({ name: `dns-version.${zone}`, type: 'TXT', ttl, data: [DNS_SCHEMA_VERSION] });
  return { records, names: [nsName, `svc.${zone}`, `pod.${zone}`] };
}

/**
 * A service's names (Kubernetes DNS spec 1.1.0): ExternalName → CNAME;
 * headless → A/AAAA per endpoint at the service and at the endpoint's own
 * name, PTRs and SRVs to those; otherwise A/AAAA per ClusterIP, PTRs, and
 * SRVs per port (named ports under `_port._proto`, every port at the bare name).
 */
export function serviceRecords(view: ServiceView, config: DnsConfig): RecordSource {
  const zone = canonicalName(config.zone);
  const ttl = config.ttl;
  const ns = view.namespace;
  const base = `${view.name}.${ns}.svc.${zone}`;
  const records: Rr[] = [];
  const srv = (portName: string, protocol: string, port: number, target: string): void => {
    const data = { priority: 0, weight: 100, port, target };
    if (portName) records.push({ name: `_${portName}._${protocol.toLowerCase()}.${base}`, type: 'SRV', ttl, data });
    // CoreDNS findServices: the bare name matches every port (an empty port/protocol is a wildcard).
    records.push({ name: base, type: 'SRV', ttl, data });
  };
  if (view.type === 'ExternalName' && view.externalName) {
    records.push({ name: base, type: 'CNAME', ttl, data: canonicalName(view.externalName) });
  } else if (view.headless) {
    for (const group of view.endpointGroups) {
      for (const e of group.endpoints) {
        if (!e.ready && !view.publishNotReadyAddresses) continue;
        const host = `${e.hostname ?? dashedIp(e.ip.text)}.${base}`;
        records.push(address(base, e.ip, ttl), address(host, e.ip, ttl), { name: reverseName(e.ip), type: 'PTR', ttl, data: host });
        for (const p of group.ports) srv(p.name, p.protocol, p.port, host);
      }
    }
  } else {
    for (const ip of view.clusterIPs) records.push(address(base, ip, ttl), { name: reverseName(ip), type: 'PTR', ttl, data: base });
    if (view.clusterIPs.length) for (const p of view.ports) srv(p.name, p.protocol, p.port, base);
  }
  // CoreDNS findServices: a headless service's name exists only through its endpoints
  // (no ready address, no publishNotReadyAddresses: NXDOMAIN, spec 2.4.1).
  const own = view.headless ? [] : [base];
  return { records, names: [`${ns}.svc.${zone}`, ...own, ...namespaceName(ns, config)], namespace: ns };
}

/** A pod's own address record (`verified` pod records only; `insecure` ones are made up per question in answer.ts). */
export function podRecords(pod: Pod, config: DnsConfig): RecordSource {
  const zone = canonicalName(config.zone);
  const ns = pod.metadata.namespace;
  const records: Rr[] = [];
  if ((config.podRecords ?? 'insecure') === 'verified') {
    const ips = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
    for (const text of ips) {
      const ip = parseIp(text);
      if (ip) records.push(address(`${dashedIp(text)}.${ns}.pod.${zone}`, ip, config.ttl));
    }
  }
  return { records, names: namespaceName(ns, config), namespace: ns };
}

/** Insecure pod names are made up per question; their namespaces exist as names. */
function namespaceName(ns: string, config: DnsConfig): string[] {
  return (config.podRecords ?? 'insecure') === 'insecure' ? [`${ns}.pod.${canonicalName(config.zone)}`] : [];
}

function address(name: string, ip: IpAddress, ttl: number): Rr {
  return { name, type: ip.family === 4 ? 'A' : 'AAAA', ttl, data: ip.text };
}
