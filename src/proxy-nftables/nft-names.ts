import { createHash } from 'node:crypto';
import type { Protocol } from '../api/service.js';

/**
 * Names inside keel's nftables table, as kube-proxy's nftables mode forms
 * them (pkg/proxy/nftables/proxier.go): the table is keel's own, so the
 * fixed chains and maps carry no prefix; per-service objects are a prefix,
 * 8 base32 characters of sha256(identity) and the readable identity
 * `ns/name/proto/port` (endpoints add `__ip/port`). The `/` is what tells a
 * service object from a fixed one.
 */
export const TABLE = 'keel';

/**
 * The address family of one of keel's tables: `ip keel` and, on an IPv6 or
 * dual-stack node, `ip6 keel` beside it — kube-proxy's two family tables
 * (`ip kube-proxy`, `ip6 kube-proxy`), not one `inet` table, so each family
 * keeps its own sets, maps and sync state.
 */
export type NftFamily = 'ip' | 'ip6';

/** The words of one family in nft's syntax; the two tables differ only in these. */
export interface FamilyWords {
  readonly table: NftFamily;
  /** The payload selector: `ip saddr` / `ip6 saddr`. */
  readonly ip: NftFamily;
  readonly addrType: 'ipv4_addr' | 'ipv6_addr';
  readonly family: 4 | 6;
  readonly hostPrefix: 32 | 128;
  /** NodePorts never answer on it (as kube-proxy's nftables mode). */
  readonly loopback: string;
}

export function familyWords(family: 4 | 6 | undefined): FamilyWords {
  return family === 6
    ? { table: 'ip6', ip: 'ip6', addrType: 'ipv6_addr', family: 6, hostPrefix: 128, loopback: '::1' }
    : { table: 'ip', ip: 'ip', addrType: 'ipv4_addr', family: 4, hostPrefix: 32, loopback: '127.0.0.0/8' };
}

export const CHAINS = {
  services: 'services',
  endpointsCheck: 'endpoints-check',
  firewallCheck: 'firewall-check',
  clusterIPsCheck: 'cluster-ips-check',
  reject: 'reject-chain',
  markMasq: 'mark-for-masquerade',
  masquerading: 'masquerading',
} as const;

export const MAPS = {
  serviceIPs: 'service-ips',
  serviceNodePorts: 'service-nodeports',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
  firewallIPs: 'firewall-ips',
} as const;

export const CLUSTER_IPS_SET = 'cluster-ips';

/** Pairs `ip . ip` of every endpoint: a DNATed connection from an endpoint to itself (hairpin) is masqueraded. */
export const HAIRPIN_SET = 'endpoint-hairpins';

export type SharedSetName = (typeof MAPS)[keyof typeof MAPS] | typeof CLUSTER_IPS_SET | typeof HAIRPIN_SET;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The first 8 characters of base32(sha256(text)): exactly the first 5 bytes. */
function hash8(text: string): string {
  const b = createHash('sha256').update(text).digest();
  let value = 0n;
  for (let i = 0; i < 5; i++) value = (value << 8n) | BigInt(b[i] ?? 0);
  const out: string[] = [];
  for (let shift = 35n; shift >= 0n; shift -= 5n) out.push(ALPHABET[Number((value >> shift) & 31n)] ?? '');
  return out.join('');
}

/** kube-proxy's name length limit leaves room for the 16-character prefix under nft's 256. */
const BASE_MAX = 240;

function hashed(identity: string): string {
  const name = `${hash8(identity)}-${identity}`;
  return name.length > BASE_MAX ? `${name.slice(0, BASE_MAX - 3)}...` : name;
}

/** `ns/name:port` (or `ns/name`) and protocol as `ns/name/tcp/port`. */
function portIdentity(spn: string, p: Protocol): string {
  const colon = spn.indexOf(':');
  const svc = colon < 0 ? spn : spn.slice(0, colon);
  const port = colon < 0 ? '' : spn.slice(colon + 1);
  return `${svc}/${p.toLowerCase()}/${port}`;
}

export interface PortChainNames {
  readonly cluster: string;
  readonly local: string;
  readonly external: string;
  readonly firewall: string;
  /** The data maps slot → endpoint the cluster and local chains pick from (keel's own; kube-proxy has endpoint chains). */
  readonly clusterEndpoints: string;
  readonly localEndpoints: string;
}

export function portChainNames(spn: string, p: Protocol): PortChainNames {
  const base = hashed(portIdentity(spn, p));
  return {
    cluster: `service-${base}`,
    local: `local-${base}`,
    external: `external-${base}`,
    firewall: `firewall-${base}`,
    clusterEndpoints: `service-endpoints-${base}`,
    localEndpoints: `local-endpoints-${base}`,
  };
}

/** The endpoint's chain and its affinity set; `address` is `ip:port`. */
export function endpointNames(spn: string, p: Protocol, address: string): { chain: string; affinity: string } {
  const colon = address.lastIndexOf(':');
  const ip = address.slice(0, colon).replace(/[[\]]/g, '').replaceAll(':', '.');
  const base = hashed(`${portIdentity(spn, p)}__${ip}/${address.slice(colon + 1)}`);
  return { chain: `endpoint-${base}`, affinity: `affinity-${base}` };
}

/** A per-service chain or set (keel removes stale ones only among these). */
export function isServiceObjectName(name: string): boolean {
  return name.includes('/');
}
