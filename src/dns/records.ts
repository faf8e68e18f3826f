import type { ClusterSnapshot } from '../api/cluster-state.js';
import type { EndpointAddress, Endpoints } from '../api/endpoints.js';
import { parseIp, type Cidr } from '../api/ip.js';
import { isHeadless, publishesNotReady, type Service } from '../api/service.js';
import { canonicalName, dashedIp, isInZone, reverseName, reverseZone } from './dns-names.js';

export type RrType = 'A' | 'AAAA' | 'CNAME' | 'PTR' | 'NS' | 'SRV' | 'TXT' | 'SOA';

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** One resource record; names are canonical (see dns-names.ts). */
export type Rr =
  | { name: string; type: 'A' | 'AAAA' | 'CNAME' | 'PTR' | 'NS'; ttl: number; data: string }
  | { name: string; type: 'SRV'; ttl: number; data: { priority: number; weight: number; port: number; target: string } }
  | { name: string; type: 'TXT'; ttl: number; data: string[] }
  | { name: string; type: 'SOA'; ttl: number; data: SoaData };

export interface DnsConfig {
  /** The cluster domain, e.g. `cluster.local`. */
  zone: string;
  ttl: number;
  /** Ranges whose reverse zones keel answers with authority (NXDOMAIN for unknown addresses). */
  serviceCidrs: readonly Cidr[];
  podCidrs: readonly Cidr[];
  /** Addresses of `ns.dns.<zone>`, the name server the SOA and NS records name. */
  nsAddresses?: readonly string[];
  /** `<dashed-ip>.<ns>.pod.<zone>` records, as CoreDNS's `pods` option (default insecure, kubeadm's Corefile). */
  podRecords?: PodRecordsMode;
}

/**
 * CoreDNS plugin/kubernetes (findPods): `insecure` answers any dashed
 * address in a namespace that exists, `verified` only a pod's own address
 * in its namespace, `disabled` nothing.
 */
export type PodRecordsMode = 'insecure' | 'verified' | 'disabled';
export const POD_RECORDS_MODES: readonly PodRecordsMode[] = ['insecure', 'verified', 'disabled'];

/** A name that exists: its records by type (empty for an empty non-terminal). */
export type NameNode = ReadonlyMap<RrType, readonly Rr[]>;

/**
 * Every record keel serves for one snapshot, built once so that answering
 * a question is a few map gets. Zones are sorted longest first.
 */
export interface RecordIndex {
  readonly config: DnsConfig;
  readonly clusterZone: string;
  readonly zones: readonly string[];
  readonly soa: ReadonlyMap<string, Rr>;
  readonly names: ReadonlyMap<string, NameNode>;
  /** Namespaces holding a service or a pod: keel's stand-in for Namespace objects (insecure pod records). */
  readonly namespaces: ReadonlySet<string>;
}

export const DNS_SCHEMA_VERSION = '1.1.0';

export function buildRecordIndex(snap: ClusterSnapshot, config: DnsConfig): RecordIndex {
  const zone = canonicalName(config.zone);
  const ttl = config.ttl;
  const names = new Map<string, Map<RrType, Rr[]>>();
  const add = (rr: Rr): void => {
    let node = names.get(rr.name);
    if (!node) names.set(rr.name, (node = new Map()));
    const list = node.get(rr.type) ?? [];
    if (!list.some((o) => sameData(o, rr))) list.push(rr);
    node.set(rr.type, list);
  };
  const exists = (name: string): void => {
    if (!names.has(name)) names.set(name, new Map());
  };
  const addAddress = (name: string, ip: string): void => {
    const parsed = parseIp(ip);
    if (parsed) add({ name, type: parsed.family === 4 ? 'A' : 'AAAA', ttl, data: parsed.text });
  };
  const addPtr = (ip: string, target: string): void => {
    const parsed = parseIp(ip);
    if (parsed) add({ name: reverseName(parsed), type: 'PTR', ttl, data: target });
  };

  const nsName = `ns.dns.${zone}`;
  const soaData = (): SoaData => ({ mname: nsName, rname: `hostmaster.${zone}`, serial: snap.revision % 2 ** 32, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl });
  const soa = new Map<string, Rr>();
  const reverse = [...config.serviceCidrs, ...config.podCidrs].map(reverseZone);
  for (const z of [zone, ...reverse]) {
    const rr: Rr = { name: z, type: 'SOA', ttl, data: soaData() };
    soa.set(z, rr);
    add(rr);
    add({ name: z, type: 'NS', ttl, data: nsName });
  }
  exists(nsName);
  for (const ip of config.nsAddresses ?? []) addAddress(nsName, ip);
  add({ name: `dns-version.${zone}`, type: 'TXT', ttl, data: [DNS_SCHEMA_VERSION] });
  exists(`svc.${zone}`);
  exists(`pod.${zone}`);
  const namespaces = new Set<string>();
  const podMode = config.podRecords ?? 'insecure';

  for (const key of [...snap.services.keys()].sort()) {
    const svc = snap.services.get(key) as Service;
    const ns = svc.metadata.namespace;
    namespaces.add(ns);
    const base = `${svc.metadata.name}.${ns}.svc.${zone}`;
    exists(`${ns}.svc.${zone}`);
    // CoreDNS findServices: a headless service's name exists only through its endpoints
    // (no ready address, no publishNotReadyAddresses: NXDOMAIN, spec 2.4.1).
    if (!isHeadless(svc)) exists(base);
    if (svc.spec.type === 'ExternalName' && svc.spec.externalName) {
      add({ name: base, type: 'CNAME', ttl, data: canonicalName(svc.spec.externalName) });
    } else if (isHeadless(svc)) {
      addHeadless(svc, base, snap.endpoints.get(key));
    } else {
      for (const ip of svc.spec.clusterIPs ?? []) {
        addAddress(base, ip);
        addPtr(ip, base);
      }
      if (svc.spec.clusterIPs?.length) {
        for (const p of svc.spec.ports) {
          const srv = { priority: 0, weight: 100, port: p.port, target: base };
          if (p.name) add({ name: `_${p.name}._${p.protocol.toLowerCase()}.${base}`, type: 'SRV', ttl, data: srv });
          // CoreDNS findServices: the bare name matches every port (an empty port/protocol is a wildcard).
          add({ name: base, type: 'SRV', ttl, data: srv });
        }
      }
    }
  }

  for (const key of [...snap.pods.keys()].sort()) {
    const pod = snap.pods.get(key);
    if (!pod) continue;
    const ns = pod.metadata.namespace;
    namespaces.add(ns);
    if (podMode !== 'verified') continue;
    const ips = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
    for (const ip of ips) addAddress(`${dashedIp(ip)}.${ns}.pod.${zone}`, ip);
  }
  // Insecure pod names are made up per question (answer.ts); their namespaces exist as names.
  if (podMode === 'insecure') for (const ns of namespaces) exists(`${ns}.pod.${zone}`);

  // Names between a record and its zone apex exist (empty non-terminals):
  // `_tcp.web.default.svc.<zone>` answers NODATA, not NXDOMAIN.
  const zones = [...new Set([zone, ...reverse])].sort((a, b) => b.length - a.length);
  for (const name of [...names.keys()]) {
    const z = zones.find((candidate) => isInZone(name, candidate));
    if (z === undefined) continue;
    for (let n = name; n !== z && n.includes('.'); ) {
      n = n.slice(n.indexOf('.') + 1);
      exists(n);
    }
  }
  for (const node of names.values()) {
    const srv = node.get('SRV');
    if (srv) node.set('SRV', spreadWeights(srv));
  }
  return { config, clusterZone: zone, zones, soa, names, namespaces };

  function addHeadless(svc: Service, base: string, eps: Endpoints | undefined): void {
    for (const subset of eps?.subsets ?? []) {
      const addrs: EndpointAddress[] = publishesNotReady(svc) ? [...subset.addresses, ...subset.notReadyAddresses] : subset.addresses;
      for (const addr of addrs) {
        const host = `${addr.hostname ?? dashedIp(addr.ip)}.${base}`;
        addAddress(base, addr.ip);
        addAddress(host, addr.ip);
        addPtr(addr.ip, host);
        for (const p of subset.ports) {
          const srv = { priority: 0, weight: 100, port: p.port, target: host };
          if (p.name) add({ name: `_${p.name}._${p.protocol.toLowerCase()}.${base}`, type: 'SRV', ttl, data: srv });
          add({ name: base, type: 'SRV', ttl, data: srv });
        }
      }
    }
  }
}

/** CoreDNS's weighting (plugin/backend_lookup.go SRV): n targets of one priority share 100, floor(100/n) each, at least 1. */
function spreadWeights(list: Rr[]): Rr[] {
  const weight = Math.max(1, Math.floor(100 / list.length));
  return list.map((rr) => (rr.type === 'SRV' ? { ...rr, data: { ...rr.data, weight } } : rr));
}

function sameData(a: Rr, b: Rr): boolean {
  return JSON.stringify(a.data) === JSON.stringify(b.data);
}
