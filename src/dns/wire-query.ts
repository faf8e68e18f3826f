/**
 * Reads a DNS query off the wire, strictly and without allocating more than
 * the name. dns-packet's decoder is lenient (it ignores counts it cannot
 * fill, decodes labels as UTF-8) and the hot path needs the question's raw
 * bytes anyway, so that responses echo the client's spelling (0x20) exactly.
 */
export interface Edns {
  udpSize: number;
  version: number;
}

export interface ParsedQuery {
  id: number;
  /** Header flags word of the query (RD, CD are echoed). */
  flags: number;
  /** Bytes 12..questionEnd of the query are the question, copied into the response. */
  questionEnd: number;
  /** Canonical name: lowercase, no trailing dot, odd bytes escaped \DDD. */
  name: string;
  qtype: number;
  qclass: number;
  edns: Edns | undefined;
}

export type QueryParse =
  | { kind: 'query'; query: ParsedQuery }
  /** Answer with this rcode and no records; questionEnd is set when the question itself was readable. */
  | { kind: 'error'; rcode: 'FORMERR' | 'NOTIMP'; id: number; flags: number; questionEnd: number | undefined }
  /** Too short to carry an ID, or itself a response: never answered (no reflection loops). */
  | { kind: 'drop' };

const OPT = 41;

export function parseQuery(buf: Buffer): QueryParse {
  if (buf.length < 12) return { kind: 'drop' };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return { kind: 'drop' };
  if (((flags >> 11) & 15) !== 0) return failure('NOTIMP', id, flags, undefined);
  if (buf.readUInt16BE(4) !== 1) return failure('FORMERR', id, flags, undefined);

  // One pass: label bytes are lowercased into a scratch buffer with dots between labels.
  let off = 12;
  let n = 0;
  let plain = true;
  for (;;) {
    if (off >= buf.length) return failure('FORMERR', id, flags, undefined);
    const len = buf[off] as number;
    off += 1;
    if (len === 0) break;
    // Compression in the first name can only point forward or at itself: invalid.
    if (len > 63 || off + len > buf.length) return failure('FORMERR', id, flags, undefined);
    if (n > 0) SCRATCH[n++] = 0x2e;
    // At most 255 octets on the wire (RFC 1035 2.3.4), i.e. 253 characters of text: one length
    // byte per label and the root's zero on top of the text's labels and dots.
    if (n + len > 253) return failure('FORMERR', id, flags, undefined);
    for (let i = off; i < off + len; i++) {
      const c = buf[i] as number;
      if (!isPlain(c)) plain = false;
      SCRATCH[n++] = c >= 0x41 && c <= 0x5a ? c + 32 : c;
    }
    off += len;
  }
  const name = plain ? SCRATCH.toString('latin1', 0, n) : escapedName(buf);
  if (off + 4 > buf.length) return failure('FORMERR', id, flags, undefined);
  const qtype = buf.readUInt16BE(off);
  const qclass = buf.readUInt16BE(off + 2);
  off += 4;
  const questionEnd = off;

  let edns: Edns | undefined;
  for (let section = 0; section < 3; section++) {
    // ANCOUNT, NSCOUNT, ARCOUNT at bytes 6, 8, 10.
    const count = buf.readUInt16BE(6 + 2 * section);
    for (let i = 0; i < count; i++) {
      const ownerStart = off;
      off = skipName(buf, off);
      if (off < 0 || off + 10 > buf.length) return failure('FORMERR', id, flags, questionEnd);
      const type = buf.readUInt16BE(off);
      const rdlen = buf.readUInt16BE(off + 8);
      if (off + 10 + rdlen > buf.length) return failure('FORMERR', id, flags, questionEnd);
      if (type === OPT) {
        // RFC 6891: one OPT, owned by the root, in the additional section.
        if (section !== 2 || edns || buf[ownerStart] !== 0) return failure('FORMERR', id, flags, questionEnd);
        edns = { udpSize: buf.readUInt16BE(off + 2), version: buf[off + 5] as number };
      }
      off += 10 + rdlen;
    }
  }
  if (off !== buf.length) return failure('FORMERR', id, flags, questionEnd);
  return { kind: 'query', query: { id, flags, questionEnd, name, qtype, qclass, edns } };
}

/** A module-level function, not a closure: the hot path allocates no function per query. */
function failure(rcode: 'FORMERR' | 'NOTIMP', id: number, flags: number, questionEnd: number | undefined): QueryParse {
  return { kind: 'error', rcode, id, flags, questionEnd };
}

/** Offset after a (possibly compressed) name, or -1 when it runs off the message. */
function skipName(buf: Buffer, off: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (off >= buf.length) return -1;
    const len = buf[off] as number;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (len > 63) return -1;
    off += len + 1;
  }
  return -1;
}

const SCRATCH = Buffer.alloc(256);

/** The rare name with bytes outside [a-z0-9_*-]: each label rebuilt with \DDD escapes. */
function escapedName(buf: Buffer): string {
  const labels: string[] = [];
  for (let off = 12; buf[off] !== 0; off += (buf[off] as number) + 1) {
    let label = '';
    for (let i = off + 1; i <= off + (buf[off] as number); i++) {
      const c = buf[i] as number;
      label += isPlain(c) ? String.fromCharCode(c).toLowerCase() : `\\${String(c).padStart(3, '0')}`;
    }
    labels.push(label);
  }
  return labels.join('.');
}

/** Letters, digits, '-', '_' and '*': everything else is escaped so it can match nothing keel serves. */
function isPlain(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2a;
}
