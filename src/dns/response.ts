import dnsPacket from 'dns-packet';
import type { Rr } from './records.js';

export type ResponseRcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED' | 'BADVERS';
const RCODES: Record<ResponseRcode, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 };

/** The UDP payload size keel advertises and honours at most (the DNS flag day 2020 value). */
export const EDNS_UDP_SIZE = 1232;

/** dns-packet's per-record codec: present at runtime, missing from its type declarations. */
const recordCodec = (dnsPacket as unknown as { answer: { encode(a: object): Buffer } }).answer;

/**
 * A response with everything but the query's ID, RD bit and question
 * already encoded: the part a cache keeps. Records owned by the question's
 * name carry a pointer to offset 12, so they echo the client's spelling.
 */
export interface ResponseTemplate {
  readonly rcode: ResponseRcode;
  readonly flags: number;
  readonly counts: readonly [number, number, number];
  readonly body: Buffer;
  /** What a UDP client gets when `body` does not fit: no records but the OPT. */
  readonly truncatedBody: Buffer;
  readonly truncatedArcount: number;
}

export interface RecordSections {
  answers: readonly Rr[];
  authorities: readonly Rr[];
  additionals: readonly Rr[];
}

const NO_RECORDS: RecordSections = { answers: [], authorities: [], additionals: [] };

export function buildTemplate(
  rcode: ResponseRcode,
  qname: string,
  sections: RecordSections = NO_RECORDS,
  opts: { authoritative: boolean; edns: boolean },
): ResponseTemplate {
  const code = RCODES[rcode];
  const opt = opts.edns ? [encodeOpt(code >> 4)] : [];
  const enc = (list: readonly Rr[]): Buffer[] => list.map((rr) => encodeRr(rr, qname));
  const answers = enc(sections.answers);
  const authorities = enc(sections.authorities);
  const additionals = [...enc(sections.additionals), ...opt];
  return {
    rcode,
    flags: 0x8000 | (opts.authoritative ? 0x0400 : 0) | (code & 15),
    counts: [answers.length, authorities.length, additionals.length],
    body: Buffer.concat([...answers, ...authorities, ...additionals]),
    truncatedBody: Buffer.concat(opt),
    truncatedArcount: opt.length,
  };
}

/** Builds the wire response for one query; `maxSize` is the UDP limit (Infinity over TCP). */
export function assemble(
  query: Buffer,
  questionEnd: number | undefined,
  tpl: ResponseTemplate,
  opts: { recursionAvailable: boolean; maxSize: number },
): Buffer {
  const out = Buffer.allocUnsafe(responseLength(questionEnd, tpl, opts.maxSize));
  assembleInto(out, 0, query, questionEnd, tpl, opts.recursionAvailable, opts.maxSize);
  return out;
}

/** The size of assemble's response: the whole template, or its truncated form when that exceeds `maxSize`. */
function responseLength(questionEnd: number | undefined, tpl: ResponseTemplate, maxSize: number): number {
  const qlen = questionEnd === undefined ? 0 : questionEnd - 12;
  const whole = 12 + qlen + tpl.body.length;
  return whole <= maxSize ? whole : 12 + qlen + tpl.truncatedBody.length;
}

/**
 * assemble, written into `out` at `at` (a batch's send buffer, so a cached
 * answer costs no allocation); returns the bytes written.
 */
export function assembleInto(
  out: Buffer,
  at: number,
  query: Buffer,
  questionEnd: number | undefined,
  tpl: ResponseTemplate,
  recursionAvailable: boolean,
  maxSize: number,
): number {
  const qlen = questionEnd === undefined ? 0 : questionEnd - 12;
  const fits = 12 + qlen + tpl.body.length <= maxSize;
  const body = fits ? tpl.body : tpl.truncatedBody;
  out[at] = query[0] as number;
  out[at + 1] = query[1] as number;
  // Echo RD and CD; set TC when the records were left out.
  const flags = tpl.flags | (query.readUInt16BE(2) & 0x0110) | (recursionAvailable ? 0x0080 : 0) | (fits ? 0 : 0x0200);
  out.writeUInt16BE(flags, at + 2);
  out.writeUInt16BE(qlen ? 1 : 0, at + 4);
  out.writeUInt16BE(fits ? tpl.counts[0] : 0, at + 6);
  out.writeUInt16BE(fits ? tpl.counts[1] : 0, at + 8);
  out.writeUInt16BE(fits ? tpl.counts[2] : tpl.truncatedArcount, at + 10);
  if (qlen) query.copy(out, at + 12, 12, questionEnd);
  body.copy(out, at + 12 + qlen);
  return 12 + qlen + body.length;
}

function encodeRr(rr: Rr, qname: string): Buffer {
  if (rr.name !== qname) return recordCodec.encode(rr);
  // Encoded with the root as owner (one zero byte), then that byte becomes a pointer to the question.
  const rootOwned = recordCodec.encode({ ...rr, name: '.' });
  const out = Buffer.allocUnsafe(rootOwned.length + 1);
  out[0] = 0xc0;
  out[1] = 0x0c;
  rootOwned.copy(out, 2, 1);
  return out;
}

function encodeOpt(extendedRcode: number): Buffer {
  return recordCodec.encode({
    type: 'OPT',
    name: '.',
    udpPayloadSize: EDNS_UDP_SIZE,
    extendedRcode,
    ednsVersion: 0,
    flags: 0,
    options: [],
  });
}

/** The UDP payload a client may receive: 512 without EDNS, its advertised size (capped at ours) with. */
export function udpLimit(ednsSize: number | undefined): number {
  if (ednsSize === undefined) return 512;
  return Math.min(Math.max(ednsSize, 512), EDNS_UDP_SIZE);
}
