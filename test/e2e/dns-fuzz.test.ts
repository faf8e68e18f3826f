import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/observe/log.js';
import { encodeQuery, query } from '../../src/dns/dns-client.js';
import { DnsHandler } from '../../src/dns/dns-handler.js';
import { fixtureConfig, fixtureSnapshot } from '../../src/dns/testing/fixture-cluster.js';
import { DnsServer, type ListenAddress } from '../../src/dns/server.js';
import { parseQuery } from '../../src/dns/wire-query.js';

// 100,000 random and mutated packets against a server on 127.0.0.1 (free port).
// Deterministic: a seeded generator, so a failure names a reproducible packet index.
const COUNT = 100_000;
const WINDOW = 256;

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [
  encodeQuery('web.default.svc.cluster.local', 'A'),
  encodeQuery('_pg._tcp.db.default.svc.cluster.local', 'SRV', { edns: 1232 }),
  encodeQuery('20.0.96.10.in-addr.arpa', 'PTR'),
  encodeQuery('ext.default.svc.cluster.local', 'ANY', { edns: 512 }),
  encodeQuery('www.example.org', 'AAAA'),
];

function makePackets(): Buffer[] {
  const rnd = prng(7);
  const int = (n: number): number => Math.floor(rnd() * n);
  const out: Buffer[] = [];
  for (let i = 0; i < COUNT; i++) {
    const kind = int(6);
    if (kind === 0) {
      const b = Buffer.alloc(int(600));
      for (let j = 0; j < b.length; j++) b[j] = int(256);
      if (b.length > 2 && rnd() < 0.8) b[2] = b[2]! & 0x7f; // mostly "queries", to get past the QR check
      out.push(b);
      continue;
    }
    const b = Buffer.from(SEEDS[int(SEEDS.length)]!);
    let m: Buffer = b;
    const edits = 1 + int(4);
    for (let e = 0; e < edits; e++) {
      const op = int(5);
      if (op === 0 && m.length) m[int(m.length)] = int(256);
      else if (op === 1 && m.length) m[int(m.length)] = m[int(m.length)]! ^ (1 << int(8));
      else if (op === 2) m = m.subarray(0, int(m.length + 1));
      else if (op === 3) m = Buffer.concat([m, Buffer.from([int(256), int(256), 0xc0, int(256)])]);
      else if (op === 4 && m.length >= 12) m.writeUInt16BE(int(4), 4 + 2 * int(4)); // section counts
    }
    out.push(m);
  }
  return out;
}

const ac = new AbortController();
let errors = 0;
const countingLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => {
    errors += 1;
  },
  child: () => countingLogger,
};
let handler: DnsHandler;
let addr: ListenAddress;
const packets = makePackets();

beforeAll(async () => {
  handler = new DnsHandler({ config: fixtureConfig(), recursionAllowed: () => true, logger: countingLogger });
  handler.setSnapshot(fixtureSnapshot());
  addr = await new DnsServer({ handler, listen: { host: '127.0.0.1', port: 0 }, logger: countingLogger }).start(ac.signal);
});

afterAll(() => ac.abort());

describe('dns fuzz', () => {
  it('the handler answers every malformed query with FORMERR/NOTIMP and never throws', () => {
    const tally: Record<string, number> = {};
    const wrong: string[] = [];
    for (const [i, p] of packets.entries()) {
      const parsed = parseQuery(p);
      const reply = handler.handle(p, { address: '127.0.0.1', transport: 'udp' });
      if (reply instanceof Promise) wrong.push(`packet ${i}: forwarded without a forwarder`);
      if (parsed.kind === 'drop' || reply instanceof Promise) {
        if (reply !== undefined && !(reply instanceof Promise)) wrong.push(`packet ${i}: dropped packet answered`);
        continue;
      }
      if (!reply) {
        wrong.push(`packet ${i}: no reply`);
        continue;
      }
      if (reply.readUInt16BE(0) !== p.readUInt16BE(0) || (reply[2]! & 0x80) === 0) wrong.push(`packet ${i}: bad header`);
      const rcode = (dnsPacket.decode(reply) as { rcode?: string }).rcode ?? '?';
      if (parsed.kind === 'error' && rcode !== parsed.rcode) wrong.push(`packet ${i}: ${rcode}, want ${parsed.rcode}`);
      tally[rcode] = (tally[rcode] ?? 0) + 1;
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    // Both kinds of outcome occur, so the generator exercises the parser's rejections and its answers.
    expect(tally.FORMERR).toBeGreaterThan(1000);
    expect((tally.NOERROR ?? 0) + (tally.NXDOMAIN ?? 0)).toBeGreaterThan(1000);
  });

  it('the running server survives 100,000 packets over UDP and still answers', async () => {
    const sock = dgram.createSocket('udp4');
    let received = 0;
    let malformedReplies = 0;
    sock.on('message', (m) => {
      received += 1;
      try {
        dnsPacket.decode(m);
      } catch {
        malformedReplies += 1;
      }
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const expected = packets.filter((p) => parseQuery(p).kind !== 'drop').length;
    let expectedSoFar = 0;
    try {
      for (let i = 0; i < packets.length; i += WINDOW) {
        const window = packets.slice(i, i + WINDOW);
        for (const p of window) sock.send(p, addr.port, addr.host);
        expectedSoFar += window.filter((p) => parseQuery(p).kind !== 'drop').length;
        // Wait (bounded) for this window's replies so the loopback queue never overflows.
        for (let w = 0; w < 50 && received < expectedSoFar; w++) await new Promise((r) => setTimeout(r, 2));
      }
      for (let w = 0; w < 100 && received < expected; w++) await new Promise((r) => setTimeout(r, 10));
    } finally {
      sock.close();
    }
    expect(errors).toBe(0);
    expect(malformedReplies).toBe(0);
    expect(received).toBeGreaterThanOrEqual(Math.floor(expected * 0.99));
    expect((await query(addr, 'web.default.svc.cluster.local', 'A')).answers?.[0]).toMatchObject({ data: '10.96.0.20' });
  });
});
