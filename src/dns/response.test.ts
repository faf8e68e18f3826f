import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { decodeReply, encodeQuery } from './dns-client.js';
import type { Rr } from './records.js';
import { assemble, buildTemplate, udpLimit } from './response.js';
import { parseQuery } from './wire-query.js';

const NAME = 'web.default.svc.cluster.local';
const A: Rr = { name: NAME, type: 'A', ttl: 37, data: '10.96.0.20' };
const SOA: Rr = {
  name: 'cluster.local',
  type: 'SOA',
  ttl: 37,
  data: {
    mname: 'ns.dns.cluster.local',
    rname: 'hostmaster.cluster.local',
    serial: 42,
    refresh: 7200,
    retry: 1800,
    expire: 86400,
    minimum: 37,
  },
};
const GLUE: Rr = { name: 'ns.dns.cluster.local', type: 'A', ttl: 37, data: '10.96.0.10' };

/** A client's query as the server receives it, and where its question ends. */
function ask(name: string, type: string, opts: { edns?: number; id?: number; flags?: number } = {}): { packet: Buffer; end: number } {
  const packet = encodeQuery(name, type, opts);
  if (opts.flags !== undefined) packet.writeUInt16BE(opts.flags, 2);
  const parsed = parseQuery(packet);
  if (parsed.kind !== 'query') throw new Error(`not a query: ${parsed.kind}`);
  return { packet, end: parsed.query.questionEnd };
}

const UDP = { recursionAvailable: false, maxSize: 512 };

describe('buildTemplate and assemble', () => {
  it("answers with the query's ID and question, its records in their sections, and the counts that match them", () => {
    const q = ask(NAME, 'A', { id: 0x1234 });
    const tpl = buildTemplate(
      'NOERROR',
      NAME,
      { answers: [A], authorities: [SOA], additionals: [GLUE] },
      { authoritative: true, edns: false },
    );
    const reply = decodeReply(assemble(q.packet, q.end, tpl, UDP));
    expect(reply).toMatchObject({
      type: 'response',
      id: 0x1234,
      rcode: 'NOERROR',
      questions: [{ name: NAME, type: 'A', class: 'IN' }],
      answers: [{ name: NAME, type: 'A', ttl: 37, data: '10.96.0.20' }],
      authorities: [{ name: 'cluster.local', type: 'SOA', ttl: 37, data: { serial: 42, minimum: 37 } }],
      additionals: [{ name: 'ns.dns.cluster.local', type: 'A', data: '10.96.0.10' }],
    });
  });

  it("echoes the client's spelling of the name in the records it owns (0x20 randomisation), other owners as stored", () => {
    const spelled = 'wEb.DeFault.svc.CLUSTER.local';
    const q = ask(spelled, 'A');
    const tpl = buildTemplate(
      'NOERROR',
      NAME,
      { answers: [A], authorities: [], additionals: [GLUE] },
      { authoritative: true, edns: false },
    );
    const reply = decodeReply(assemble(q.packet, q.end, tpl, UDP));
    expect(reply.questions?.[0]?.name).toBe(spelled);
    expect(reply.answers?.map((a) => a.name)).toEqual([spelled]);
    expect(reply.additionals?.map((a) => a.name)).toEqual(['ns.dns.cluster.local']);
  });

  it('sets AA only on authoritative answers, RA only when recursion is offered, and echoes RD and CD', () => {
    const rdCd = 0x0100 | 0x0010;
    const q = ask(NAME, 'A', { flags: rdCd });
    const flags = (authoritative: boolean, recursionAvailable: boolean): number =>
      assemble(q.packet, q.end, buildTemplate('NOERROR', NAME, undefined, { authoritative, edns: false }), {
        recursionAvailable,
        maxSize: 512,
      }).readUInt16BE(2);
    expect(flags(true, false)).toBe(0x8000 | 0x0400 | rdCd);
    expect(flags(false, true)).toBe(0x8000 | 0x0080 | rdCd);
    const plain = ask(NAME, 'A', { flags: 0 });
    const noRd = assemble(plain.packet, plain.end, buildTemplate('NOERROR', NAME, undefined, { authoritative: false, edns: false }), UDP);
    expect(noRd.readUInt16BE(2)).toBe(0x8000);
  });

  it.each([
    ['NOERROR', 0],
    ['FORMERR', 1],
    ['SERVFAIL', 2],
    ['NXDOMAIN', 3],
    ['NOTIMP', 4],
    ['REFUSED', 5],
  ] as const)('carries rcode %s as %i in the header', (rcode, code) => {
    const q = ask(NAME, 'A');
    const out = assemble(q.packet, q.end, buildTemplate(rcode, NAME, undefined, { authoritative: false, edns: false }), UDP);
    expect(out.readUInt16BE(2) & 15).toBe(code);
    expect(decodeReply(out).rcode).toBe(rcode);
  });

  it('answers an EDNS query with one OPT record advertising 1232 bytes, and BADVERS through its extended rcode', () => {
    const q = ask(NAME, 'A', { edns: 4096 });
    const ok = decodeReply(assemble(q.packet, q.end, buildTemplate('NOERROR', NAME, undefined, { authoritative: true, edns: true }), UDP));
    expect(ok.additionals).toEqual([expect.objectContaining({ type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0 })]);
    const bad = assemble(q.packet, q.end, buildTemplate('BADVERS', NAME, undefined, { authoritative: false, edns: true }), UDP);
    // BADVERS is 16: 0 in the header's four bits, 1 in the OPT's extended rcode.
    expect(bad.readUInt16BE(2) & 15).toBe(0);
    expect(decodeReply(bad).additionals).toEqual([expect.objectContaining({ type: 'OPT', extendedRcode: 1 })]);
    const plain = ask(NAME, 'A');
    const noEdns = decodeReply(
      assemble(plain.packet, plain.end, buildTemplate('NOERROR', NAME, undefined, { authoritative: true, edns: false }), UDP),
    );
    expect(noEdns.additionals).toEqual([]);
  });

  it('sends an answer that fits to the byte, and truncates one byte more: TC set, no records, the OPT kept', () => {
    const q = ask(NAME, 'A', { edns: 1232 });
    const answers = Array.from({ length: 40 }, (_, i): Rr => ({ name: NAME, type: 'A', ttl: 37, data: `10.244.0.${i + 1}` }));
    const tpl = buildTemplate('NOERROR', NAME, { answers, authorities: [SOA], additionals: [] }, { authoritative: true, edns: true });
    const whole = assemble(q.packet, q.end, tpl, { recursionAvailable: false, maxSize: 65_535 });
    const exact = assemble(q.packet, q.end, tpl, { recursionAvailable: false, maxSize: whole.length });
    expect(exact).toEqual(whole);
    expect(exact.readUInt16BE(2) & 0x0200).toBe(0);
    expect(decodeReply(exact).answers).toHaveLength(40);

    const cut = assemble(q.packet, q.end, tpl, { recursionAvailable: false, maxSize: whole.length - 1 });
    expect(cut.readUInt16BE(2) & 0x0200).toBe(0x0200);
    expect(cut.length).toBeLessThan(whole.length);
    expect(decodeReply(cut)).toMatchObject({
      id: 4242,
      questions: [{ name: NAME, type: 'A' }],
      answers: [],
      authorities: [],
      additionals: [expect.objectContaining({ type: 'OPT', udpPayloadSize: 1232 })],
    });
  });

  it('truncates without EDNS to a bare header and question', () => {
    const q = ask(NAME, 'A');
    const answers = Array.from({ length: 40 }, (_, i): Rr => ({ name: NAME, type: 'A', ttl: 37, data: `10.244.0.${i + 1}` }));
    const out = assemble(
      q.packet,
      q.end,
      buildTemplate('NOERROR', NAME, { answers, authorities: [], additionals: [] }, { authoritative: true, edns: false }),
      UDP,
    );
    expect(out.length).toBe(q.end);
    expect(decodeReply(out)).toMatchObject({ answers: [], authorities: [], additionals: [], questions: [{ name: NAME }] });
  });

  it('answers a query whose question could not be read with the header alone (no question)', () => {
    const q = ask(NAME, 'A', { id: 77 });
    const out = assemble(q.packet, undefined, buildTemplate('FORMERR', '', undefined, { authoritative: false, edns: false }), UDP);
    expect(out.length).toBe(12);
    expect(decodeReply(out)).toMatchObject({ id: 77, rcode: 'FORMERR', questions: [], answers: [] });
  });

  it('encodes every record kind keel serves so a resolver reads the same data back', () => {
    const records: Rr[] = [
      A,
      { name: NAME, type: 'AAAA', ttl: 37, data: 'fd00:10:96::20' },
      { name: NAME, type: 'CNAME', ttl: 37, data: 'example.com' },
      { name: NAME, type: 'SRV', ttl: 37, data: { priority: 0, weight: 50, port: 80, target: 'db-0.db.default.svc.cluster.local' } },
      { name: NAME, type: 'TXT', ttl: 37, data: ['1.1.0'] },
      { name: NAME, type: 'PTR', ttl: 37, data: 'x.cluster.local' },
      { name: NAME, type: 'NS', ttl: 37, data: 'ns.dns.cluster.local' },
    ];
    // dns-packet turns TXT strings into Buffers in place: compare with a copy taken before encoding.
    const expected = records.map((r) => [r.type, r.ttl, structuredClone(r.data)]);
    const q = ask(NAME, 'ANY');
    const tpl = buildTemplate(
      'NOERROR',
      NAME,
      { answers: records, authorities: [], additionals: [] },
      { authoritative: true, edns: false },
    );
    const back = decodeReply(assemble(q.packet, q.end, tpl, { recursionAvailable: false, maxSize: 65_535 })).answers ?? [];
    const fields = (a: (typeof back)[number]): unknown[] => {
      if (a.type === 'OPT') return [a.type];
      return [a.type, a.ttl, Array.isArray(a.data) ? a.data.map(String) : a.data];
    };
    expect(back.map(fields)).toEqual(expected);
  });

  // dns-packet's own encoder of a whole response is the reference for the header layout.
  it('lays out the header as dns-packet does for the same response', () => {
    const q = ask(NAME, 'A', { id: 9 });
    const out = assemble(
      q.packet,
      q.end,
      buildTemplate('NOERROR', NAME, { answers: [A], authorities: [], additionals: [] }, { authoritative: true, edns: false }),
      UDP,
    );
    const reference = dnsPacket.encode({
      type: 'response',
      id: 9,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED,
      questions: [{ name: NAME, type: 'A', class: 'IN' }],
      answers: [{ name: NAME, type: 'A', ttl: 37, data: '10.96.0.20' }],
    });
    expect(out.subarray(0, 12)).toEqual(reference.subarray(0, 12));
  });
});

describe('udpLimit', () => {
  it('is 512 without EDNS, the advertised size with it, never below 512 nor above 1232', () => {
    expect([undefined, 0, 511, 512, 513, 1231, 1232, 1233, 4096].map(udpLimit)).toEqual([512, 512, 512, 512, 513, 1231, 1232, 1232, 1232]);
  });
});
