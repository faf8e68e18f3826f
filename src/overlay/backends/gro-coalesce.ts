import { fold, pseudoSum4, setIpChecksum } from './inet-checksum.js';
import { GSO_TCPV4, VNET_F_NEEDS_CSUM, VNET_HDR_LEN, writeVnetHdr } from './virtio-net-hdr.js';

const TCP = 6;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
const IP_MAX = 65535;

/**
 * The receive half of the udp backend's batching: the datagrams of one
 * recvmmsg (`spans`: [start, end) pairs in `buf`, each one IPv4 packet in
 * flannel's wire form; a UDP_GRO read holds many, cut at its gso_size)
 * become TUN frames in `out`, each a virtio_net_hdr and a packet. Consecutive TCP segments of one flow that
 * the kernel's own GRO would merge (same addresses, ports, ack, options,
 * ACK or a final ACK|PSH, seq following on, full-sized but the last) become
 * one GSO_TCPV4 super-packet, so the kernel routes one packet instead of
 * forty; every other packet passes as it came. Returns the frames as
 * [start, end) pairs in `out`, and how many datagrams were not IPv4 (dropped).
 *
 * Inner checksums are not verified: the outer UDP checksum, which the
 * receiving kernel checked, covers every byte; a merged packet leaves its TCP
 * checksum to the kernel (NEEDS_CSUM), which completes it only if it must.
 */
export function coalesceDatagrams(buf: Buffer, spans: readonly number[], out: Buffer): { frames: number[]; dropped: number } {
  const frames: number[] = [];
  let dropped = 0;
  let o = 0;
  // The open group: where its frame starts in `out`, its segment size and count, the next seq it takes.
  let g = -1;
  let gMss = 0;
  let gSegs = 0;
  let gNext = 0;
  let gOpen = false;
  const close = (): void => {
    if (g < 0) return;
    if (gSegs > 1) finishGroup(out, g, o, gMss);
    frames.push(g, o);
    g = -1;
  };
  for (let k = 0; k + 1 < spans.length; k += 2) {
    const d = spans[k] as number;
    const len = (spans[k + 1] as number) - d;
    if (len < 20 || (buf[d] as number) >> 4 !== 4 || buf.readUInt16BE(d + 2) > len || buf.readUInt16BE(d + 2) < 20) {
      dropped++;
      continue;
    }
    const total = buf.readUInt16BE(d + 2);
    const seg = tcpSegment(buf, d, total);
    if (
      g >= 0 &&
      gOpen &&
      seg &&
      seg.payload > 0 &&
      seg.payload <= gMss &&
      seg.seq === gNext &&
      o + seg.payload <= g + VNET_HDR_LEN + IP_MAX
    ) {
      const head = g + VNET_HDR_LEN;
      if (sameFlow(out, head, buf, d, seg.hdr)) {
        buf.copy(out, o, d + seg.hdr, d + total);
        o += seg.payload;
        gSegs++;
        gNext = (gNext + seg.payload) % 0x1_0000_0000;
        if (seg.flags & TCP_PSH) out[head + 20 + 13] = (out[head + 20 + 13] as number) | TCP_PSH;
        gOpen = seg.payload === gMss && !(seg.flags & TCP_PSH);
        continue;
      }
    }
    close();
    out.fill(0, o, o + VNET_HDR_LEN);
    buf.copy(out, o + VNET_HDR_LEN, d, d + total);
    if (seg && seg.payload > 0) {
      g = o;
      gMss = seg.payload;
      gSegs = 1;
      gNext = (seg.seq + seg.payload) % 0x1_0000_0000;
      gOpen = !(seg.flags & TCP_PSH);
      o += VNET_HDR_LEN + total;
    } else {
      frames.push(o, o + VNET_HDR_LEN + total);
      o += VNET_HDR_LEN + total;
    }
  }
  close();
  return { frames, dropped };
}

/** A TCP segment that may join a group (no IP options or fragments, only ACK or ACK|PSH), or undefined. */
function tcpSegment(b: Buffer, at: number, total: number): { hdr: number; payload: number; seq: number; flags: number } | undefined {
  if (b[at] !== 0x45 || b[at + 9] !== TCP || (b.readUInt16BE(at + 6) & 0x3fff) !== 0) return undefined;
  const hdr = 20 + ((b[at + 20 + 12] as number) >> 4) * 4;
  const flags = b[at + 20 + 13] as number;
  if (hdr > total || hdr < 40 || (flags & ~TCP_PSH) !== TCP_ACK) return undefined;
  return { hdr, payload: total - hdr, seq: b.readUInt32BE(at + 24), flags };
}

/** Same TOS, DF, TTL, addresses; same ports, ack, header length and options as the group's head. */
function sameFlow(out: Buffer, head: number, b: Buffer, at: number, hdr: number): boolean {
  if (((out[head + 20 + 12] as number) >> 4) * 4 + 20 !== hdr) return false;
  return (
    out.compare(b, at + 1, at + 2, head + 1, head + 2) === 0 &&
    out.compare(b, at + 6, at + 10, head + 6, head + 10) === 0 &&
    out.compare(b, at + 12, at + 20, head + 12, head + 20) === 0 &&
    out.compare(b, at + 20, at + 24, head + 20, head + 24) === 0 &&
    out.compare(b, at + 28, at + 32, head + 28, head + 32) === 0 &&
    out.compare(b, at + 40, at + hdr, head + 40, head + hdr) === 0
  );
}

/** Turns the group's head into a GSO_TCPV4 super-packet: vnet header, IPv4 length and checksum, pseudo-header TCP checksum. */
function finishGroup(out: Buffer, g: number, end: number, mss: number): void {
  const ip = g + VNET_HDR_LEN;
  const total = end - ip;
  const hdr = 20 + ((out[ip + 20 + 12] as number) >> 4) * 4;
  writeVnetHdr(out, g, { flags: VNET_F_NEEDS_CSUM, gsoType: GSO_TCPV4, hdrLen: hdr, gsoSize: mss, csumStart: 20, csumOffset: 16 });
  out.writeUInt16BE(total, ip + 2);
  setIpChecksum(out, ip);
  out.writeUInt16BE(fold(pseudoSum4(out, ip, TCP, total - 20)), ip + 36);
}
