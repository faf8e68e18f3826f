import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { coalesceDatagrams } from './gro-coalesce.js';
import { ACK, FIN, frame, ipValid, PSH, pseudo, rfc1071, segments, tcpPacket } from './testing/ip-packets.js';
import { GSO_TCPV4, readVnetHdr, VNET_F_NEEDS_CSUM, VNET_HDR_LEN } from './virtio-net-hdr.js';

/* Datagrams as one recvmmsg returns them: flannel-format IPv4 packets, one per span of the buffer (testing/ip-packets.ts). */
describe('coalesceDatagrams (UDP_GRO read → TUN frames)', () => {
  const out = Buffer.alloc(131072);
  const run = (packets: Buffer[]): { frames: Buffer[]; dropped: number } => {
    const buf = Buffer.concat(packets);
    const spans: number[] = [];
    for (const p of packets) spans.push(spans.at(-1) ?? 0, (spans.at(-1) ?? 0) + p.length);
    const { frames, dropped } = coalesceDatagrams(buf, spans, out);
    const list: Buffer[] = [];
    for (let i = 0; i < frames.length; i += 2) list.push(Buffer.from(out.subarray(frames[i], frames[i + 1])));
    return { frames: list, dropped };
  };

  it('merges the segments of one TCP flow into one GSO_TCPV4 frame that segments back to the same packets', () => {
    const original = segments(frame(tcpPacket(randomBytes(20_000), 5, ACK | PSH, true), GSO_TCPV4, 1400, 16));
    const { frames } = run(original);
    expect(frames).toHaveLength(1);
    const f = frames[0] as Buffer;
    expect(readVnetHdr(f, 0)).toEqual({
      flags: VNET_F_NEEDS_CSUM,
      gsoType: GSO_TCPV4,
      hdrLen: 52,
      gsoSize: 1400,
      csumStart: 20,
      csumOffset: 16,
    });
    const ip = f.subarray(VNET_HDR_LEN);
    expect(ip.readUInt16BE(2)).toBe(ip.length);
    expect(ipValid(ip)).toBe(true);
    expect(ip.readUInt16BE(36)).toBe(rfc1071(pseudo(ip, 6, ip.length - 20)));
    expect(segments(f)).toEqual(original);
  });

  it('passes a plain flannel datagram from a peer without offloads as it came, behind an empty vnet header', () => {
    const p = tcpPacket(randomBytes(300), 1, ACK | PSH, false);
    const { frames } = run([p]);
    expect(frames).toEqual([Buffer.concat([Buffer.alloc(VNET_HDR_LEN), p])]);
  });

  it('keeps apart what the kernel would not merge: a seq gap, another flow, SYN/FIN, segments after a short one', () => {
    const a = tcpPacket(randomBytes(1000), 1000, ACK, false);
    const gap = tcpPacket(randomBytes(1000), 3000, ACK, false);
    const other = tcpPacket(randomBytes(1000), 2000, ACK, false);
    other.writeUInt16BE(40001, 20);
    const fin = tcpPacket(randomBytes(1000), 2000, ACK | FIN, false);
    expect(run([a, gap]).frames).toHaveLength(2);
    expect(run([a, other]).frames).toHaveLength(2);
    expect(run([a, fin]).frames).toHaveLength(2);
    const b = tcpPacket(randomBytes(1000), 2000, ACK, false);
    expect(run([a, b]).frames).toHaveLength(1);
  });

  it('merges across the slots of one recvmmsg, wherever in the buffer each datagram landed', () => {
    const [a, b] = segments(frame(tcpPacket(randomBytes(2800), 5, ACK, true), GSO_TCPV4, 1400, 16));
    const buf = Buffer.alloc(8192);
    a?.copy(buf, 0);
    b?.copy(buf, 4096);
    const { frames } = coalesceDatagrams(buf, [0, a?.length ?? 0, 4096, 4096 + (b?.length ?? 0)], out);
    expect(frames).toEqual([0, VNET_HDR_LEN + 52 + 2800]);
  });

  it('drops datagrams that are not IPv4 packets and counts them', () => {
    const p = tcpPacket(randomBytes(100), 1, ACK, false);
    const junk = Buffer.alloc(p.length, 0x61);
    const { frames, dropped } = run([p, junk, p]);
    expect(dropped).toBe(1);
    expect(frames).toHaveLength(2);
  });
});
