import { DecodeError } from '../api/errors.js';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';

/**
 * A node's subnet lease as flannel stores it: the key names the subnet
 * (`10.244.1.0-24`), the value is flannel's LeaseAttrs JSON.
 */
export interface LeaseAttrs {
  readonly publicIp: IpAddress;
  readonly backendType: string;
  /** Backend-specific JSON (vxlan: {VNI, VtepMAC}); absent for udp and host-gw, as in flannel. */
  readonly backendData?: unknown;
  /** A dual-stack lease's IPv6 underlay address (flannel's PublicIPv6, null when absent). */
  readonly publicIpv6?: IpAddress;
  /** The IPv6 backend's data (vxlan: the VTEP MAC of flannel-v6.1), flannel's BackendV6Data. */
  readonly backendV6Data?: unknown;
}

/** The subnets a lease key names. */
export interface LeaseSubnets {
  /** The IPv4 pod subnet; flannel's zero 0.0.0.0/0 on an IPv6-only network. */
  readonly subnet: Cidr;
  /** The IPv6 pod subnet of a dual-stack or IPv6-only lease: the key's part after `&` (flannel's IPv6Subnet). */
  readonly ipv6Subnet?: Cidr;
}

export interface Lease extends LeaseSubnets {
  readonly attrs: LeaseAttrs;
}

export interface VxlanBackendData {
  readonly vni: number;
  readonly vtepMac: string;
}

// flannel pkg/subnet subnetRegex: `10.244.1.0-24`, or dual-stack `10.244.1.0-24&fd00:10:244:1::-64`.
const KEY_TAIL = /(\d+\.\d+\.\d+\.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/** flannel MakeSubnetKey: the IPv4 subnet, then `&` and the IPv6 one for a dual-stack or IPv6-only lease. */
export function subnetKey({ subnet, ipv6Subnet }: LeaseSubnets): string {
  const v4 = subnet.text.replace('/', '-');
  return ipv6Subnet ? `${v4}&${ipv6Subnet.text.replace('/', '-')}` : v4;
}

/**
 * The subnets a lease key names: undefined for keys that are not leases;
 * `ipv6Subnet` undefined for an IPv4-only key, null when the IPv6 part is
 * malformed (the caller rejects that lease alone).
 */
export function parseSubnetKey(key: string): { subnet: Cidr; ipv6Subnet: Cidr | null | undefined } | undefined {
  const m = KEY_TAIL.exec(key);
  if (!m) return undefined;
  const cidr = parseCidr(`${m[1]}/${m[2]}`);
  if (!cidr || cidr.family !== 4 || cidr.text !== `${m[1]}/${m[2]}`) return undefined;
  if (m[3] === undefined) return { subnet: cidr, ipv6Subnet: undefined };
  const v6 = parseCidr(`${m[3]}/${m[4]}`);
  return { subnet: cidr, ipv6Subnet: v6?.family === 6 && v6.first === (parseIp(m[3])?.value ?? -1n) ? v6 : null };
}

/** Byte-compatible with Go's json.Marshal of flannel's LeaseAttrs (field order, null PublicIPv6, omitted empty data). */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  const doc: Record<string, unknown> = {
    PublicIP: attrs.publicIp.text,
    PublicIPv6: attrs.publicIpv6?.text ?? null,
    BackendType: attrs.backendType,
  };
  if (attrs.backendData !== undefined) doc.BackendData = attrs.backendData;
  if (attrs.backendV6Data !== undefined) doc.BackendV6Data = attrs.backendV6Data;
  return JSON.stringify(doc);
}

export function vxlanBackendData(data: VxlanBackendData): unknown {
  return { VNI: data.vni, VtepMAC: data.vtepMac.toLowerCase() };
}

export function decodeLease(key: string, value: Buffer | string): Lease {
  const parsed = parseSubnetKey(key);
  if (!parsed) throw new DecodeError(`lease ${key}`, 'the key does not end in <a.b.c.d>-<prefix length>');
  const { subnet, ipv6Subnet } = parsed;
  if (ipv6Subnet === null) throw new DecodeError(`lease ${key}`, 'the IPv6 part of the key (after &) is not an IPv6 subnet');
  const attrs = decodeLeaseAttrs(`lease ${subnetKey(ipv6Subnet ? { subnet, ipv6Subnet } : { subnet })}`, value);
  return ipv6Subnet ? { subnet, ipv6Subnet, attrs } : { subnet, attrs };
}

/** flannel's LeaseAttrs JSON (PublicIP, PublicIPv6, BackendType, BackendData, BackendV6Data); `subject` names it in errors. */
export function decodeLeaseAttrs(subject: string, value: Buffer | string): LeaseAttrs {
  let doc: unknown;
  try {
    doc = JSON.parse(value.toString());
  } catch (err) {
    throw new DecodeError(subject, 'value is not JSON', err);
  }
  if (typeof doc !== 'object' || doc === null) throw new DecodeError(subject, 'value is not a JSON object');
  const d = doc as Record<string, unknown>;
  const publicIp = typeof d.PublicIP === 'string' ? parseIp(d.PublicIP) : undefined;
  if (!publicIp || publicIp.family !== 4) throw new DecodeError(subject, `PublicIP ${JSON.stringify(d.PublicIP)} is not an IPv4 address`);
  const backendType = typeof d.BackendType === 'string' ? d.BackendType : '';
  const attrs: { -readonly [K in keyof LeaseAttrs]: LeaseAttrs[K] } = { publicIp, backendType };
  if (d.BackendData !== undefined && d.BackendData !== null) attrs.backendData = d.BackendData;
  if (d.PublicIPv6 !== undefined && d.PublicIPv6 !== null) {
    const v6 = typeof d.PublicIPv6 === 'string' ? parseIp(d.PublicIPv6) : undefined;
    if (v6?.family !== 6) throw new DecodeError(subject, `PublicIPv6 ${JSON.stringify(d.PublicIPv6)} is not an IPv6 address`);
    attrs.publicIpv6 = v6;
  }
  if (d.BackendV6Data !== undefined && d.BackendV6Data !== null) attrs.backendV6Data = d.BackendV6Data;
  return attrs;
}

/** One family's vxlan part of a lease (BackendData, or BackendV6Data for IPv6), or undefined when it is not usable. */
export function readVxlanData(lease: Pick<Lease, 'attrs'>, family: 4 | 6 = 4): VxlanBackendData | undefined {
  const d = (family === 4 ? lease.attrs.backendData : lease.attrs.backendV6Data) as { VNI?: unknown; VtepMAC?: unknown } | undefined;
  if (!d || typeof d.VtepMAC !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(d.VtepMAC)) return undefined;
  return { vni: typeof d.VNI === 'number' ? d.VNI : 1, vtepMac: d.VtepMAC.toLowerCase() };
}

/**
 * What a lease holds per family, for people to read: its subnets and
 * public addresses, IPv4 first, without the zero IPv4 half (0.0.0.0/0 via
 * 0.0.0.0) that flannel writes for an IPv6-only node.
 */
export function leaseFamilies(lease: Lease): { subnets: string[]; publicIps: string[] } {
  const v4 = lease.subnet.prefixLength > 0 || lease.attrs.publicIp.value !== 0n;
  return {
    subnets: [...(v4 ? [lease.subnet.text] : []), ...(lease.ipv6Subnet ? [lease.ipv6Subnet.text] : [])],
    publicIps: [...(v4 ? [lease.attrs.publicIp.text] : []), ...(lease.attrs.publicIpv6 ? [lease.attrs.publicIpv6.text] : [])],
  };
}
