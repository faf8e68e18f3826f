/**
 * The Internet checksum (RFC 1071) pieces the udp backend's segmentation
 * and coalescing need: a running one's-complement sum of big-endian 16-bit
 * words, left unfolded so sums of pieces add up, and folded at the end.
 */
/** Little-endian hosts (x86-64, arm64) may sum 32-bit words of the host's byte order, then swap the folded sum's bytes. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Below this many bytes the Uint32Array view costs more than it saves. */
const WIDE_MIN = 64;

export function sum16(b: Uint8Array, start: number, end: number, initial = 0): number {
  let s = initial;
  let i = start;
  // RFC 1071's byte-order independence: the sum of host-order words is the byte-swapped sum of big-endian ones.
  // An even start that is not 4-aligned takes one 16-bit word first; an odd one stays on the byte path.
  if (LITTLE_ENDIAN && end - i >= WIDE_MIN && ((b.byteOffset + i) & 1) === 0) {
    if ((b.byteOffset + i) & 2) {
      s += ((b[i] as number) << 8) | (b[i + 1] as number);
      i += 2;
    }
    const n = (end - i) >>> 2;
    const words = new Uint32Array(b.buffer, b.byteOffset + i, n);
    let w = 0;
    for (let k = 0; k < n; k++) {
      const v = words[k] as number;
      w += (v >>> 16) + (v & 0xffff);
    }
    w = fold(w);
    s += ((w & 0xff) << 8) | (w >>> 8);
    i += n * 4;
  }
  for (; i + 1 < end; i += 2) s += ((b[i] as number) << 8) | (b[i + 1] as number);
  if (i < end) s += (b[i] as number) << 8;
  return s;
}

/** Folds a running sum to 16 bits (not complemented). */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The IPv4 pseudo-header (addresses of the header at `ip`, protocol, L4 length) as a running sum. */
export function pseudoSum4(ip: Uint8Array, at: number, proto: number, l4Length: number): number {
  return sum16(ip, at + 12, at + 20, proto + l4Length);
}

/** Rewrites the IPv4 header checksum of the header at `at`. */
export function setIpChecksum(b: Buffer, at: number): void {
  const ihl = ((b[at] as number) & 0x0f) * 4;
  b.writeUInt16BE(0, at + 10);
  b.writeUInt16BE(~fold(sum16(b, at, at + ihl)) & 0xffff, at + 10);
}
