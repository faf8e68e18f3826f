import { VNET_F_NEEDS_CSUM, VNET_HDR_LEN, writeVnetHdr } from '../virtio-net-hdr.js';
import { segmentFrame } from '../gso-segment.js';

/*
 * Frames as a TUN with IFF_VNET_HDR and TSO4/USO4 reads them: pod 10.244.1.2
 * → 10.244.2.3, TCP 40000 → 5201 with a 12-byte timestamp option, checksums
 * left partial (pseudo-header sum) as the kernel leaves them. Every checksum
 * the code writes is checked by the plain RFC 1071 sum below, written apart.
 */
const SRC = [10, 244, 1, 2];
const DST = [10, 244, 2, 3];

export function rfc1071(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += ((b[i] ?? 0) << 8) + (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
export const pseudo = (ip: Buffer, proto: number, l4: number): Buffer =>
  Buffer.concat([ip.subarray(12, 20), Buffer.from([0, proto, l4 >> 8, l4 & 0xff])]);
export const ipValid = (p: Buffer): boolean => rfc1071(p.subarray(0, 20)) === 0xffff;
export const l4Valid = (p: Buffer): boolean => rfc1071(Buffer.concat([pseudo(p, p[9] ?? 0, p.length - 20), p.subarray(20)])) === 0xffff;

export function ipHeader(total: number, proto: number, id: number): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(total, 2);
  ip.writeUInt16BE(id, 4);
  ip.writeUInt16BE(0x4000, 6);
  ip[8] = 64;
  ip[9] = proto;
  Buffer.from([...SRC, ...DST]).copy(ip, 12);
  return ip;
}

/** A TCP packet with `payload`, its TCP checksum complete or partial. */
export function tcpPacket(payload: Buffer, seq: number, flags: number, partial: boolean, id = 7): Buffer {
  const tcp = Buffer.alloc(32);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(5201, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp.writeUInt32BE(99, 8);
  tcp[12] = 8 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(502, 14);
  Buffer.from([1, 1, 8, 10, 0, 0, 0, 42, 0, 0, 0, 17]).copy(tcp, 20);
  const p = Buffer.concat([ipHeader(52 + payload.length, 6, id), tcp, payload]);
  p.writeUInt16BE(~rfc1071(p.subarray(0, 20)) & 0xffff, 10);
  const ps = rfc1071(pseudo(p, 6, p.length - 20));
  p.writeUInt16BE(partial ? ps : ~rfc1071(Buffer.concat([pseudo(p, 6, p.length - 20), p.subarray(20)])) & 0xffff, 36);
  return p;
}

export function frame(packet: Buffer, gsoType: number, gsoSize: number, csumOffset: number): Buffer {
  const f = Buffer.alloc(VNET_HDR_LEN + packet.length);
  writeVnetHdr(f, 0, { flags: VNET_F_NEEDS_CSUM, gsoType, hdrLen: 52, gsoSize, csumStart: 20, csumOffset });
  packet.copy(f, VNET_HDR_LEN);
  return f;
}

export function segments(f: Buffer): Buffer[] {
  const out = Buffer.alloc(131072);
  const ends: number[] = [];
  const n = segmentFrame(f, f.length, out, ends);
  return ends.slice(0, n).map((e, i) => Buffer.from(out.subarray(i === 0 ? 0 : (ends[i - 1] ?? 0), e)));
}

export const ACK = 0x10;
export const PSH = 0x08;
export const FIN = 0x01;
