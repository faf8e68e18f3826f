import { ConfigError } from '../api/errors.js';
import { cidrContains, cidrsOverlap, ipFromValue, parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';

/**
 * The cluster's overlay configuration, stored as flannel's JSON at
 * `<subnet-prefix>/config` so flannel and keel read each other's.
 */
export const BACKEND_TYPES = ['vxlan', 'udp', 'host-gw'] as const;
export type BackendType = (typeof BACKEND_TYPES)[number];

export interface BackendConfig {
  readonly type: BackendType;
  /** VXLAN network identifier (vxlan only). */
  readonly vni: number;
  /** UDP port of the encapsulation (vxlan 8472, udp 8285; unused by host-gw). */
  readonly port: number;
  /** vxlan: plain routes to nodes on the same L2 segment. */
  readonly directRouting: boolean;
}

/** One family's pod network and how it is cut into node subnets. */
export interface FamilyRange {
  readonly network: Cidr;
  readonly subnetLen: number;
  /** First and last node subnet that may be leased (both aligned to subnetLen). */
  readonly subnetMin: IpAddress;
  readonly subnetMax: IpAddress;
}

export interface NetworkConfig extends FamilyRange {
  /**
   * flannel's EnableIPv4 (default true). When false (IPv6-only) the IPv4
   * fields hold flannel's zero values — 0.0.0.0/0, length 0 — which is
   * also the IPv4 part flannel writes into an IPv6-only lease key.
   */
  readonly enableIPv4: boolean;
  /** EnableIPv6 with IPv6Network, IPv6SubnetLen, IPv6SubnetMin/Max. */
  readonly ipv6?: FamilyRange;
  readonly backend: BackendConfig;
}

const DEFAULT_PORTS: Readonly<Record<BackendType, number>> = { vxlan: 8472, udp: 8285, 'host-gw': 0 };

const SUBJECT = 'network config';

/** flannel's config field names and limits per family (pkg/subnet CheckNetworkConfig). */
const FIELDS = {
  4: { network: 'Network', len: 'SubnetLen', min: 'SubnetMin', max: 'SubnetMax', bits: 32, defaultLen: 24, example: '10.244.0.0/16' },
  6: {
    network: 'IPv6Network',
    len: 'IPv6SubnetLen',
    min: 'IPv6SubnetMin',
    max: 'IPv6SubnetMax',
    bits: 128,
    defaultLen: 64,
    example: 'fd00:10:244::/56',
  },
} as const;

const ZERO_V4: FamilyRange = {
  network: parseCidr('0.0.0.0/0') as Cidr,
  subnetLen: 0,
  subnetMin: parseIp('0.0.0.0') as IpAddress,
  subnetMax: parseIp('0.0.0.0') as IpAddress,
};

/** Parses and validates flannel's config JSON, filling flannel's defaults. */
export function parseNetworkConfig(text: string, subject = SUBJECT): NetworkConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(subject, `not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(raw)) throw new ConfigError(subject, 'must be a JSON object');
  const enableIPv4 = optionalBool(raw.EnableIPv4, 'EnableIPv4', subject) ?? true;
  const enableIPv6 = optionalBool(raw.EnableIPv6, 'EnableIPv6', subject) ?? false;
  if (!enableIPv4 && !enableIPv6) throw new ConfigError(subject, 'EnableIPv4 and EnableIPv6 are both false: no family left');
  const v4 = enableIPv4 ? parseFamily(raw, 4, subject) : ZERO_V4;
  const backend = parseBackend(raw.Backend, subject);
  if (!enableIPv6) return { ...v4, enableIPv4, backend };
  const ipv6 = parseFamily(raw, 6, subject);
  // flannel's udp backend is IPv4-only; vxlan and host-gw carry IPv6.
  if (backend.type === 'udp') throw new ConfigError(subject, 'Backend.Type: udp carries IPv4 only; use vxlan or host-gw with EnableIPv6');
  return { ...v4, enableIPv4, ipv6, backend };
}

/** The pod networks of the enabled families, IPv4 first. */
export function podNetworks(config: NetworkConfig): Cidr[] {
  return [...(config.enableIPv4 ? [config.network] : []), ...(config.ipv6 ? [config.ipv6.network] : [])];
}

/** Refuses a pod network that would shadow the service range. */
export function checkServiceOverlap(config: NetworkConfig, serviceRange: Cidr, subject = SUBJECT): void {
  for (const network of podNetworks(config)) {
    if (cidrsOverlap(network, serviceRange)) {
      throw new ConfigError(subject, `Network ${network.text} overlaps the service range ${serviceRange.text}`);
    }
  }
}

export interface NetworkConfigInput {
  /** The pod network, or one per family comma-separated (`10.244.0.0/16,fd00:10:244::/56`); IPv6 alone is IPv6-only. */
  network: string;
  subnetLen?: number;
  ipv6SubnetLen?: number;
  subnetMin?: string;
  subnetMax?: string;
  backend: string;
  vni?: number;
  port?: number;
  directRouting?: boolean;
}

/** Renders the JSON `keel network init` stores; only what the user chose or the backend needs. */
export function renderNetworkConfig(input: NetworkConfigInput): string {
  const backend: Record<string, unknown> = { Type: input.backend };
  if (input.backend === 'vxlan') backend.VNI = input.vni ?? 1;
  if (input.port !== undefined) backend.Port = input.port;
  if (input.directRouting) backend.DirectRouting = true;
  const parts = input.network.split(',').map((n) => n.trim());
  const v6 = parts.find((n) => n.includes(':'));
  const v4 = parts.find((n) => !n.includes(':'));
  if (parts.length > 2 || (parts.length === 2 && (!v4 || !v6))) {
    throw new ConfigError(
      '--network',
      `${JSON.stringify(input.network)}: give one network per family, e.g. 10.244.0.0/16,fd00:10:244::/56`,
    );
  }
  // flannel's field order; EnableIPv4 is written only to turn it off (its default is true).
  const doc: Record<string, unknown> = {};
  if (v4 !== undefined) doc.Network = v4;
  else doc.EnableIPv4 = false;
  if (v4 !== undefined && input.subnetLen !== undefined) doc.SubnetLen = input.subnetLen;
  if (v4 !== undefined && input.subnetMin !== undefined) doc.SubnetMin = input.subnetMin;
  if (v4 !== undefined && input.subnetMax !== undefined) doc.SubnetMax = input.subnetMax;
  if (v6 !== undefined) {
    doc.EnableIPv6 = true;
    doc.IPv6Network = v6;
    // IPv6 alone: the plain flags describe the IPv6 network.
    const len = input.ipv6SubnetLen ?? (v4 === undefined ? input.subnetLen : undefined);
    if (len !== undefined) doc.IPv6SubnetLen = len;
    if (v4 === undefined && input.subnetMin !== undefined) doc.IPv6SubnetMin = input.subnetMin;
    if (v4 === undefined && input.subnetMax !== undefined) doc.IPv6SubnetMax = input.subnetMax;
  }
  doc.Backend = backend;
  return JSON.stringify(doc);
}

function parseBackend(raw: unknown, subject: string): BackendConfig {
  // flannel's default when Backend is absent.
  if (raw === undefined) return { type: 'udp', vni: 1, port: DEFAULT_PORTS.udp, directRouting: false };
  if (!isRecord(raw)) throw new ConfigError(subject, 'Backend: must be an object like {"Type": "vxlan"}');
  const type = raw.Type ?? 'udp';
  if (typeof type !== 'string' || !(BACKEND_TYPES as readonly string[]).includes(type)) {
    throw new ConfigError(subject, `Backend.Type: unknown backend ${JSON.stringify(type)} (keel supports ${BACKEND_TYPES.join(', ')})`);
  }
  const t = type as BackendType;
  const vni = optionalInt(raw.VNI, 'Backend.VNI', subject) ?? 1;
  if (vni < 1 || vni > 0xffffff) throw new ConfigError(subject, `Backend.VNI: ${vni} is outside 1..16777215`);
  const port = optionalInt(raw.Port, 'Backend.Port', subject) ?? DEFAULT_PORTS[t];
  if (t !== 'host-gw' && (port < 1 || port > 65535)) throw new ConfigError(subject, `Backend.Port: ${port} is outside 1..65535`);
  if (raw.DirectRouting !== undefined && typeof raw.DirectRouting !== 'boolean') {
    throw new ConfigError(subject, 'Backend.DirectRouting: must be true or false');
  }
  return { type: t, vni, port, directRouting: raw.DirectRouting === true };
}

function parseFamily(raw: Record<string, unknown>, family: 4 | 6, subject: string): FamilyRange {
  const f = FIELDS[family];
  const text = raw[f.network];
  if (typeof text !== 'string') throw new ConfigError(subject, `${f.network}: required, e.g. "${f.example}"`);
  const network = parseCidr(text);
  if (network?.family !== family) {
    throw new ConfigError(subject, `${f.network}: ${JSON.stringify(text)} is not an IPv${family} CIDR`);
  }
  if (network.text !== text) throw new ConfigError(subject, `${f.network}: ${text} has host bits set (did you mean ${network.text}?)`);

  const subnetLen = optionalInt(raw[f.len], f.len, subject) ?? defaultSubnetLen(network, family, subject);
  if (subnetLen > f.bits - 2) throw new ConfigError(subject, `${f.len}: /${subnetLen} is too small for a node (at most /${f.bits - 2})`);
  if (subnetLen < network.prefixLength + 2) {
    throw new ConfigError(
      subject,
      `${f.len}: /${subnetLen} is too large for ${f.network} ${network.text}: it must fit at least four times (use /${network.prefixLength + 2} or longer)`,
    );
  }
  const size = 1n << BigInt(f.bits - subnetLen);
  const bound = (field: string): IpAddress | undefined => optionalAddress(raw[field], field, network, subnetLen, subject);
  const subnetMin = bound(f.min) ?? ipFromValue(family, network.first + size);
  const subnetMax = bound(f.max) ?? ipFromValue(family, network.first + network.size - size);
  if (subnetMin.value > subnetMax.value) throw new ConfigError(subject, `${f.min} ${subnetMin.text} is above ${f.max} ${subnetMax.text}`);
  return { network, subnetLen, subnetMin, subnetMax };
}

/** flannel's default: a /24 (IPv6: /64) per node, or four subnets when the network is too small for that. */
function defaultSubnetLen(network: Cidr, family: 4 | 6, subject: string): number {
  const f = FIELDS[family];
  if (network.prefixLength > f.bits - 4)
    throw new ConfigError(subject, `${f.network} ${network.text} is too small: the smallest useful network is a /${f.bits - 4}`);
  return network.prefixLength <= f.defaultLen - 2 ? f.defaultLen : network.prefixLength + 2;
}

function optionalBool(v: unknown, field: string, subject: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(subject, `${field}: must be true or false`);
  return v;
}

function optionalInt(v: unknown, field: string, subject: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new ConfigError(subject, `${field}: ${JSON.stringify(v)} must be a whole number`);
  return v;
}

function optionalAddress(v: unknown, field: string, network: Cidr, subnetLen: number, subject: string): IpAddress | undefined {
  if (v === undefined) return undefined;
  const ip = typeof v === 'string' ? parseIp(v) : undefined;
  if (ip?.family !== network.family) {
    throw new ConfigError(subject, `${field}: ${JSON.stringify(v)} is not an IPv${network.family} address`);
  }
  if (!cidrContains(network, ip))
    throw new ConfigError(subject, `${field}: ${ip.text} is not in ${FIELDS[network.family].network} ${network.text}`);
  if (ip.value % (1n << BigInt(FIELDS[network.family].bits - subnetLen)) !== 0n)
    throw new ConfigError(subject, `${field}: ${ip.text} is not on a /${subnetLen} boundary`);
  return ip;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
