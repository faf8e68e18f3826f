import type { Cidr } from '../api/ip.js';

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
 * Every record keel serves, kept up to date change by change (zone-records.ts)
 * so that answering a question is a few map gets. Zones are sorted longest first.
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
