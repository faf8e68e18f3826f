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

export interface NetworkConfig {
  readonly network: Cidr;
  readonly subnetLen: number;
  /** First and last node subnet that may be leased (both aligned to subnetLen). */
  readonly subnetMin: IpAddress;
  readonly subnetMax: IpAddress;
  readonly backend: BackendConfig;
}

const DEFAULT_PORTS: Readonly<Record<BackendType, number>> = { vxlan: 8472, udp: 8285, 'host-gw': 0 };

const SUBJECT = 'network config';

/** Parses and validates flannel's config JSON, filling flannel's defaults. */
export function parseNetworkConfig(text: string, subject = SUBJECT): NetworkConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(subject, `not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(raw)) throw new ConfigError(subject, 'must be a JSON object');
  if (typeof raw.Network !== 'string') throw new ConfigError(subject, 'Network: required, e.g. "10.244.0.0/16"');
  const network = parseCidr(raw.Network);
  if (!network || network.family !== 4) throw new ConfigError(subject, `Network: ${JSON.stringify(raw.Network)} is not an IPv4 CIDR`);
  if (network.text !== raw.Network)
    throw new ConfigError(subject, `Network: ${raw.Network} has host bits set (did you mean ${network.text}?)`);

  const subnetLen = optionalInt(raw.SubnetLen, 'SubnetLen', subject) ?? defaultSubnetLen(network, subject);
  if (subnetLen > 30) throw new ConfigError(subject, `SubnetLen: /${subnetLen} is too small for a node (at most /30)`);
  if (subnetLen < network.prefixLength + 2) {
    throw new ConfigError(
      subject,
      `SubnetLen: /${subnetLen} is too large for Network ${network.text}: it must fit at least four times (use /${network.prefixLength + 2} or longer)`,
    );
  }
  const size = 1n << BigInt(32 - subnetLen);
  const subnetMin = optionalAddress(raw.SubnetMin, 'SubnetMin', network, subnetLen, subject) ?? ipFromValue(4, network.first + size);
  const subnetMax =
    optionalAddress(raw.SubnetMax, 'SubnetMax', network, subnetLen, subject) ?? ipFromValue(4, network.first + network.size - size);
  if (subnetMin.value > subnetMax.value) throw new ConfigError(subject, `SubnetMin ${subnetMin.text} is above SubnetMax ${subnetMax.text}`);

  return { network, subnetLen, subnetMin, subnetMax, backend: parseBackend(raw.Backend, subject) };
}

/** Refuses a pod network that would shadow the service range. */
export function checkServiceOverlap(config: NetworkConfig, serviceRange: Cidr, subject = SUBJECT): void {
  if (cidrsOverlap(config.network, serviceRange)) {
    throw new ConfigError(subject, `Network ${config.network.text} overlaps the service range ${serviceRange.text}`);
  }
}

export interface NetworkConfigInput {
  network: string;
  subnetLen?: number;
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
  const doc: Record<string, unknown> = { Network: input.network };
  if (input.subnetLen !== undefined) doc.SubnetLen = input.subnetLen;
  if (input.subnetMin !== undefined) doc.SubnetMin = input.subnetMin;
  if (input.subnetMax !== undefined) doc.SubnetMax = input.subnetMax;
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

function defaultSubnetLen(network: Cidr, subject: string): number {
  if (network.prefixLength > 28)
    throw new ConfigError(subject, `Network ${network.text} is too small: the smallest useful network is a /28`);
  return network.prefixLength <= 22 ? 24 : network.prefixLength + 2;
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
  if (!ip || ip.family !== 4) throw new ConfigError(subject, `${field}: ${JSON.stringify(v)} is not an IPv4 address`);
  if (!cidrContains(network, ip)) throw new ConfigError(subject, `${field}: ${ip.text} is not in Network ${network.text}`);
  if (ip.value % (1n << BigInt(32 - subnetLen)) !== 0n)
    throw new ConfigError(subject, `${field}: ${ip.text} is not on a /${subnetLen} boundary`);
  return ip;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
