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
}

export interface Lease {
  readonly subnet: Cidr;
  readonly attrs: LeaseAttrs;
}

export interface VxlanBackendData {
  readonly vni: number;
  readonly vtepMac: string;
}

const KEY_TAIL = /(\d+\.\d+\.\d+\.\d+)-(\d+)$/;

export function subnetKey(subnet: Cidr): string {
  return subnet.text.replace('/', '-');
}

/** The subnet a lease key names, or undefined for keys that are not leases. */
export function parseSubnetKey(key: string): Cidr | undefined {
  const m = KEY_TAIL.exec(key);
  if (!m) return undefined;
  const cidr = parseCidr(`${m[1]}/${m[2]}`);
  return cidr && cidr.family === 4 && cidr.text === `${m[1]}/${m[2]}` ? cidr : undefined;
}

/** Byte-compatible with Go's json.Marshal of flannel's LeaseAttrs (field order, null PublicIPv6, omitted empty data). */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  const doc: Record<string, unknown> = { PublicIP: attrs.publicIp.text, PublicIPv6: null, BackendType: attrs.backendType };
  if (attrs.backendData !== undefined) doc.BackendData = attrs.backendData;
  return JSON.stringify(doc);
}

export function vxlanBackendData(data: VxlanBackendData): unknown {
  return { VNI: data.vni, VtepMAC: data.vtepMac.toLowerCase() };
}

export function decodeLease(key: string, value: Buffer | string): Lease {
  const subnet = parseSubnetKey(key);
  if (!subnet) throw new DecodeError(`lease ${key}`, 'the key does not end in <a.b.c.d>-<prefix length>');
  const subject = `lease ${subnetKey(subnet)}`;
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
  const attrs: LeaseAttrs =
    d.BackendData === undefined || d.BackendData === null
      ? { publicIp, backendType }
      : { publicIp, backendType, backendData: d.BackendData };
  return { subnet, attrs };
}

/** The vxlan part of a lease, or undefined when the lease is not a usable vxlan lease. */
export function readVxlanData(lease: Lease): VxlanBackendData | undefined {
  const d = lease.attrs.backendData as { VNI?: unknown; VtepMAC?: unknown } | undefined;
  if (!d || typeof d.VtepMAC !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(d.VtepMAC)) return undefined;
  return { vni: typeof d.VNI === 'number' ? d.VNI : 1, vtepMac: d.VtepMAC.toLowerCase() };
}
