import { ipFromValue, type IpAddress } from '../../api/ip.js';

/** Netlink attribute encoding (u16 length incl. header, u16 type, payload padded to 4) for what the package leaves raw. */
export interface VxlanInfo {
  vni: number;
  local: IpAddress | undefined;
  port: number;
}

/** An address attribute of either family: 4 bytes IPv4, 16 bytes IPv6, anything else undefined. */
export const ipOf = (b: Buffer | undefined): IpAddress | undefined => {
  if (b?.length === 4) return ipFromValue(4, BigInt(b.readUInt32BE(0)));
  if (b?.length === 16) return ipFromValue(6, BigInt(`0x${b.toString('hex')}`));
  return undefined;
};

export const bytes = (ip: IpAddress): Buffer => Buffer.from(ip.value.toString(16).padStart(ip.family === 4 ? 8 : 32, '0'), 'hex');

/**
 * IFLA_LINKINFO for a vxlan device: kind, then VNI, underlay ifindex, local
 * address (IFLA_VXLAN_LOCAL, or LOCAL6 for an IPv6 underlay), learning off,
 * dst port, and for IPv4 outer UDP checksum off (as flannel's device; over
 * IPv6 the checksum stays on, as the kernel's default and flannel's).
 */
export function encodeVxlanLinkinfo(info: { vni: number; local: IpAddress; port: number }, underlayIndex: number): Buffer {
  const data = Buffer.concat([
    attr(1, u32(info.vni)),
    attr(3, u32(underlayIndex)),
    attr(info.local.family === 4 ? 4 : 17, bytes(info.local)),
    attr(7, Buffer.from([0])),
    attr(15, be16(info.port)),
    ...(info.local.family === 4 ? [attr(18, Buffer.from([0]))] : []),
  ]);
  return Buffer.concat([attr(1, Buffer.from('vxlan\0')), attr(2, data)]);
}

/** Reads kind "vxlan" and its VNI, local address (IPv4 or IPv6) and port from IFLA_LINKINFO's nested attributes. */
export function parseVxlanInfo(linkinfo: Buffer): VxlanInfo | undefined {
  const info = attrs(linkinfo);
  if (info.get(1)?.toString().replace(/\0+$/, '') !== 'vxlan') return undefined;
  const data = attrs(info.get(2) ?? Buffer.alloc(0));
  return { vni: data.get(1)?.readUInt32LE(0) ?? 0, local: ipOf(data.get(4) ?? data.get(17)), port: data.get(15)?.readUInt16BE(0) ?? 0 };
}

/** Every attribute of one level in order, its type without the nested and byte-order flags (a list's elements share one type). */
export function attrEntries(buf: Buffer): { type: number; payload: Buffer }[] {
  const out: { type: number; payload: Buffer }[] = [];
  for (let off = 0; off + 4 <= buf.length;) {
    const len = buf.readUInt16LE(off);
    if (len < 4) break;
    out.push({ type: buf.readUInt16LE(off + 2) & 0x3fff, payload: buf.subarray(off + 4, off + len) });
    off += (len + 3) & ~3;
  }
  return out;
}

/** One level's attributes by type (the last of a repeated type wins). */
export function attrs(buf: Buffer): Map<number, Buffer> {
  return new Map(attrEntries(buf).map((a) => [a.type, a.payload]));
}

export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

/** A nested attribute (NLA_F_NESTED set, as nfnetlink requires) holding the given attributes. */
export const nested = (type: number, ...parts: Buffer[]): Buffer => attr(type | 0x8000, Buffer.concat(parts));

/** A NUL-terminated string payload. */
export const cstr = (text: string): Buffer => Buffer.from(`${text}\0`);

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
