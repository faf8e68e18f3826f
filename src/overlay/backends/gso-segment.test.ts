import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ACK, FIN, frame, ipHeader, ipValid, l4Valid, PSH, segments, tcpPacket } from './testing/ip-packets.js';
import { GSO_NONE, GSO_TCPV4, GSO_UDP_L4 } from './virtio-net-hdr.js';

/* Frames as a TUN with IFF_VNET_HDR and TSO4/USO4 reads them (testing/ip-packets.ts). */

describe('segmentFrame (TUN read → flannel datagrams)', () => {
  it('cuts a TSO super-packet into MTU-sized TCP segments, each with its own length, id, seq, flags and complete checksums', () => {
    const payload = randomBytes(10_000);
    const segs = segments(frame(tcpPacket(payload, 0xffff_f000, ACK | PSH | FIN, true), GSO_TCPV4, 1400, 16));
    expect(segs.map((s) => s.length)).toEqual([...Array<number>(7).fill(1452), 52 + 200]);
    for (const [i, s] of segs.entries()) {
      expect(s.readUInt16BE(2)).toBe(s.length);
      expect(s.readUInt16BE(4)).toBe(7 + i);
      expect(s.readUInt32BE(24)).toBe((0xffff_f000 + i * 1400) % 2 ** 32);
      expect(s[33]).toBe(i === 7 ? ACK | PSH | FIN : ACK);
      expect(ipValid(s)).toBe(true);
      expect(l4Valid(s)).toBe(true);
    }
    expect(Buffer.concat(segs.map((s) => s.subarray(52)))).toEqual(payload);
  });

  it('cuts a USO super-packet into UDP datagrams with their own lengths and checksums', () => {
    const payload = randomBytes(3000);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(5353, 0);
    udp.writeUInt16BE(53, 2);
    const p = Buffer.concat([ipHeader(28 + payload.length, 17, 1), udp, payload]);
    const segs = segments(frame(p, GSO_UDP_L4, 1200, 6));
    expect(segs.map((s) => s.length)).toEqual([1228, 1228, 628]);
    for (const s of segs) {
      expect(s.readUInt16BE(24)).toBe(s.length - 20);
      expect(ipValid(s) && l4Valid(s)).toBe(true);
    }
    expect(Buffer.concat(segs.map((s) => s.subarray(28)))).toEqual(payload);
  });

  it('completes the partial checksum of a single packet and passes a finished one unchanged', () => {
    const partial = tcpPacket(randomBytes(100), 1, ACK, true);
    const [done] = segments(frame(partial, GSO_NONE, 0, 16));
    expect(done && l4Valid(done)).toBe(true);
    const finished = tcpPacket(randomBytes(100), 1, ACK, false);
    const f = frame(finished, GSO_NONE, 0, 16);
    f[0] = 0;
    expect(segments(f)).toEqual([finished]);
  });

  it('carries nothing that is not IPv4 or whose GSO type does not match its protocol', () => {
    const six = Buffer.alloc(60);
    six[0] = 0x60;
    expect(segments(frame(six, GSO_NONE, 0, 0))).toEqual([]);
    expect(segments(frame(tcpPacket(randomBytes(3000), 1, ACK, true), GSO_UDP_L4, 1400, 6))).toEqual([]);
  });
});
