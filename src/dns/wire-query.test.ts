import { describe, expect, it } from 'vitest';
import { encodeQuery } from './dns-client.js';
import { parseQuery } from './wire-query.js';

function header(counts: [number, number, number, number], flags = 0x0100): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0xbeef, 0);
  b.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => b.writeUInt16BE(c, 4 + 2 * i));
  return b;
}

const A_IN = Buffer.from([0, 1, 0, 1]);
const OPT = Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]); // root, OPT, udp 4096, ttl 0, rdlen 0
const ROOT = Buffer.from([0]);

/** A name's wire form, label by label (no compression). */
function wireName(...labels: string[]): Buffer {
  return Buffer.concat([...labels.map((l) => Buffer.from([l.length, ...Buffer.from(l, 'latin1')])), ROOT]);
}

/** A resource record: owner, type, class IN, TTL 0, rdata. */
function rr(owner: Buffer, type: number, rdata: Buffer = Buffer.alloc(0)): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, fixed, rdata]);
}

/** An OPT record as dig sends it by default: UDP 1232, version 0, one COOKIE option with an 8-byte client cookie. */
const OPT_COOKIE = (() => {
  const b = rr(ROOT, 41, Buffer.from([0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]));
  b.writeUInt16BE(1232, 3);
  return b;
})();

describe('parseQuery', () => {
  it('lowercases the name and keeps the question bytes', () => {
    const q = encodeQuery('Web.Default.SVC.cluster.local', 'SRV', { edns: 1400 });
    const p = parseQuery(q);
    expect(p).toMatchObject({
      kind: 'query',
      query: { id: 4242, name: 'web.default.svc.cluster.local', qtype: 33, qclass: 1, edns: { udpSize: 1400, version: 0 } },
    });
    if (p.kind === 'query') expect(q.subarray(12, p.query.questionEnd).toString('latin1')).toContain('Web');
  });

  it('escapes label bytes that are no hostname characters, so they match nothing', () => {
    const name = Buffer.from([3, 0x61, 0x2e, 0x42, 2, 0x63, 0x64, 0]); // "a.B" "cd"
    const p = parseQuery(Buffer.concat([header([1, 0, 0, 0]), name, A_IN]));
    expect(p).toMatchObject({ kind: 'query', query: { name: 'a\\046b.cd' } });
  });

  // RFC 1035 2.3.4; CoreDNS answers FORMERR through miekg/dns, whose unpacking refuses names past 255 octets.
  it('takes a name of exactly 255 octets and refuses one of 256 (FORMERR)', () => {
    const label = (n: number) => Buffer.from([n, ...Buffer.alloc(n, 0x61)]);
    const name = (last: number) => Buffer.concat([label(63), label(63), label(63), label(last), Buffer.from([0])]);
    expect(name(61)).toHaveLength(255);
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0]), name(61), A_IN]))).toMatchObject({ kind: 'query', query: { qtype: 1 } });
    expect(name(62)).toHaveLength(256);
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0]), name(62), A_IN]))).toMatchObject({
      kind: 'error',
      rcode: 'FORMERR',
      questionEnd: undefined,
    });
  });

  // dig, kdig and the stub resolvers send underscores (SRV, _dmarc), digits and hyphens: all read as themselves.
  it('reads every hostname character as itself and lowercases A-Z', () => {
    const name = wireName('_http', '_tcp', 'Az-Zy09', '*', 'svc');
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0]), name, A_IN]))).toMatchObject({
      kind: 'query',
      query: { name: '_http._tcp.az-zy09.*.svc' },
    });
  });

  it.each([
    ['@', '\\064'],
    ['[', '\\091'],
    ['`', '\\096'],
    ['{', '\\123'],
    ['/', '\\047'],
    [':', '\\058'],
    ['\xe9', '\\233'],
  ])('escapes %j, next to hostname characters and alone', (c, escaped) => {
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0]), wireName(`a${c}z`, c), A_IN]))).toMatchObject({
      kind: 'query',
      query: { name: `a${escaped}z.${escaped}` },
    });
  });

  // A query may carry records: dig's OPT with a COOKIE option, a NOTIFY's SOA, an owner compressed against the question.
  it('reads past records in every section, with compressed and plain owners, and takes EDNS from the OPT', () => {
    const question = Buffer.concat([wireName('web', 'ns', 'svc', 'cluster', 'local'), A_IN]);
    const packet = Buffer.concat([
      header([1, 1, 1, 2]),
      question,
      rr(Buffer.from([0xc0, 12]), 1, Buffer.from([10, 96, 0, 10])),
      rr(wireName('x'.repeat(63), 'ns'), 6, Buffer.alloc(22)),
      rr(Buffer.from([2, 0x6b, 0x31, 0xc0, 12]), 250, Buffer.alloc(6)),
      OPT_COOKIE,
    ]);
    expect(parseQuery(packet)).toMatchObject({
      kind: 'query',
      query: { name: 'web.ns.svc.cluster.local', questionEnd: 12 + question.length, edns: { udpSize: 1232, version: 0 } },
    });
  });

  it('answers the root name', () => {
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0]), Buffer.from([0]), A_IN]))).toMatchObject({ kind: 'query', query: { name: '' } });
  });

  it.each([
    ['a compression pointer in the question', Buffer.concat([header([1, 0, 0, 0]), Buffer.from([0xc0, 12]), A_IN])],
    ['no question', header([0, 0, 0, 0])],
    ['two questions', Buffer.concat([header([2, 0, 0, 0]), ROOT, A_IN, ROOT, A_IN])],
    ['a question the header does not count', Buffer.concat([header([0, 0, 0, 0]), ROOT, A_IN])],
    ['a question name without its root label', Buffer.concat([header([1, 0, 0, 0]), Buffer.from([1, 0x61])])],
    ['a question label of 64 bytes', Buffer.concat([header([1, 0, 0, 0]), Buffer.from([64]), Buffer.alloc(64, 0x61), ROOT, A_IN])],
    ['a question without its type and class', Buffer.concat([header([1, 0, 0, 0]), ROOT, Buffer.from([0, 1])])],
    ['a label running past the end', Buffer.concat([header([1, 0, 0, 0]), Buffer.from([9, 0x61])])],
    [
      'a name longer than 255 octets',
      Buffer.concat([
        header([1, 0, 0, 0]),
        ...Array.from({ length: 5 }, () => Buffer.from([63, ...Buffer.alloc(63, 0x61)])),
        Buffer.from([0]),
        A_IN,
      ]),
    ],
    ['an OPT outside the additional section', Buffer.concat([header([1, 1, 0, 0]), Buffer.from([0]), A_IN, OPT])],
    ['two OPT records', Buffer.concat([header([1, 0, 0, 2]), Buffer.from([0]), A_IN, OPT, OPT])],
    ['a record count with no record', Buffer.concat([header([1, 0, 0, 1]), Buffer.from([0]), A_IN])],
    ['trailing bytes', Buffer.concat([header([1, 0, 0, 0]), Buffer.from([0]), A_IN, Buffer.from([0])])],
  ])('FORMERR for %s', (_what, packet) => {
    expect(parseQuery(packet)).toMatchObject({ kind: 'error', rcode: 'FORMERR', id: 0xbeef });
  });

  // Past the question: the answer names the question (questionEnd set), as miekg/dns's FORMERR echoes it for CoreDNS.
  it.each([
    ['an OPT owned by a name other than the root', rr(wireName('a'), 41)],
    ['a record cut inside its fixed fields', OPT.subarray(0, 6)],
    ['a record whose data runs past the end', Buffer.concat([rr(ROOT, 41, Buffer.alloc(4)).subarray(0, 11 + 2)])],
    ['an owner cut inside a compression pointer', Buffer.from([0xc0])],
    ['an owner with a reserved label type (0x40)', rr(Buffer.concat([Buffer.from([0x40]), Buffer.alloc(64, 0x61), ROOT]), 1)],
    ['an owner of 128 labels, past 255 octets', rr(Buffer.concat([...Array.from({ length: 128 }, () => Buffer.from([1, 0x61])), ROOT]), 1)],
    ['an owner running past the end', Buffer.from([5, 0x61, 0x62])],
  ])('FORMERR naming the question for %s', (_what, record) => {
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 1]), ROOT, A_IN, record]))).toEqual({
      kind: 'error',
      rcode: 'FORMERR',
      id: 0xbeef,
      flags: 0x0100,
      questionEnd: 17,
    });
  });

  it('takes an owner of 127 labels, the most 255 octets hold', () => {
    const owner = Buffer.concat([...Array.from({ length: 127 }, () => Buffer.from([1, 0x61])), ROOT]);
    expect(owner).toHaveLength(255);
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 1]), ROOT, A_IN, rr(owner, 1)]))).toMatchObject({
      kind: 'query',
      query: { edns: undefined },
    });
  });

  it('NOTIMP for other opcodes, nothing for responses and runts', () => {
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0], 5 << 11), Buffer.from([0]), A_IN]))).toMatchObject({
      kind: 'error',
      rcode: 'NOTIMP',
    });
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0], 0x8000), Buffer.from([0]), A_IN]))).toEqual({ kind: 'drop' });
    expect(parseQuery(Buffer.alloc(11))).toEqual({ kind: 'drop' });
  });
});
