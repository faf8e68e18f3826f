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

  it('answers the root name', () => {
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0]), Buffer.from([0]), A_IN]))).toMatchObject({ kind: 'query', query: { name: '' } });
  });

  it.each([
    ['a compression pointer in the question', Buffer.concat([header([1, 0, 0, 0]), Buffer.from([0xc0, 12]), A_IN])],
    ['no question', header([0, 0, 0, 0])],
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

  it('NOTIMP for other opcodes, nothing for responses and runts', () => {
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0], 5 << 11), Buffer.from([0]), A_IN]))).toMatchObject({
      kind: 'error',
      rcode: 'NOTIMP',
    });
    expect(parseQuery(Buffer.concat([header([1, 0, 0, 0], 0x8000), Buffer.from([0]), A_IN]))).toEqual({ kind: 'drop' });
    expect(parseQuery(Buffer.alloc(11))).toEqual({ kind: 'drop' });
  });
});
