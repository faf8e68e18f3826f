import { fold, pseudoSum4, setIpChecksum, sum16 } from './inet-checksum.js';
import { GSO_NONE, GSO_TCPV4, GSO_UDP_L4, readVnetHdr, VNET_F_NEEDS_CSUM, VNET_HDR_LEN } from './virtio-net-hdr.js';

const TCP = 6;
const UDP = 17;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * One TUN read (virtio_net_hdr + IPv4 packet, up to 64 KB with TSO/USO) in
 * flannel's wire form: the MTU-sized IPv4 packets the kernel would have
 * handed a plain TUN, written one after another into `out` from offset 0,
 * every checksum complete. `ends` receives each packet's end offset; the
 * return is how many (0 for a frame keel does not carry). Every packet but
 * the last has the same size, which is what one UDP_SEGMENT send needs.
 *
 * Per segment the IPv4 header gets its length, id + i and checksum, the TCP
 * header seq + i × gso_size, FIN/PSH on the last segment only and CWR on the
 * first only, as the kernel's own TSO does; a UDP header gets its length.
 */
export function segmentFrame(frame: Buffer, length: number, out: Buffer, ends: number[]): number {
  const h = readVnetHdr(frame, 0);
  const p = VNET_HDR_LEN;
  const len = length - p;
  if (len < 20 || (frame[p] as number) >> 4 !== 4) return 0;
  if (h.gsoType === GSO_NONE) {
    frame.copy(out, 0, p, length);
    if (h.flags & VNET_F_NEEDS_CSUM && !completeChecksum(out, len, h.csumStart, h.csumOffset)) return 0;
    ends[0] = len;
    return 1;
  }
  const ihl = ((frame[p] as number) & 0x0f) * 4;
  const proto = frame[p + 9] as number;
  let l4Len: number;
  if (h.gsoType === GSO_TCPV4 && proto === TCP) l4Len = ((frame[p + ihl + 12] as number) >> 4) * 4;
  else if (h.gsoType === GSO_UDP_L4 && proto === UDP) l4Len = 8;
  else return 0;
  const hdr = ihl + l4Len;
  const mss = h.gsoSize;
  if (mss === 0 || hdr >= len || ihl < 20) return 0;
  const count = Math.ceil((len - hdr) / mss);
  if (count * hdr + len > out.length) return 0;
  const id0 = frame.readUInt16BE(p + 4);
  const seq0 = proto === TCP ? frame.readUInt32BE(p + ihl + 4) : 0;
  let o = 0;
  for (let i = 0; i < count; i++) {
    const from = p + hdr + i * mss;
    const segLen = Math.min(mss, length - from);
    const total = hdr + segLen;
    frame.copy(out, o, p, p + hdr);
    frame.copy(out, o + hdr, from, from + segLen);
    out.writeUInt16BE(total, o + 2);
    out.writeUInt16BE((id0 + i) & 0xffff, o + 4);
    setIpChecksum(out, o);
    const l4 = o + ihl;
    let csumAt: number;
    if (proto === TCP) {
      out.writeUInt32BE((seq0 + i * mss) % 0x1_0000_0000, l4 + 4);
      let flags = out[l4 + 13] as number;
      if (i < count - 1) flags &= ~(TCP_FIN | TCP_PSH);
      if (i > 0) flags &= ~TCP_CWR;
      out[l4 + 13] = flags;
      csumAt = l4 + 16;
    } else {
      out.writeUInt16BE(8 + segLen, l4 + 4);
      csumAt = l4 + 6;
    }
    out.writeUInt16BE(0, csumAt);
    const sum = fold(sum16(out, l4, o + total, pseudoSum4(out, o, proto, total - ihl)));
    out.writeUInt16BE(~sum & 0xffff || 0xffff, csumAt);
    o += total;
    ends[i] = o;
  }
  return count;
}

/**
 * Completes a partial L4 checksum (NEEDS_CSUM: the field holds the
 * pseudo-header sum) over [start, len); 0 becomes 0xffff, which UDP needs
 * and TCP reads the same.
 */
function completeChecksum(b: Buffer, len: number, start: number, offset: number): boolean {
  const at = start + offset;
  if (at + 2 > len) return false;
  b.writeUInt16BE(~fold(sum16(b, start, len)) & 0xffff || 0xffff, at);
  return true;
}
