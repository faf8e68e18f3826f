/**
 * The Internet checksum (RFC 1071) pieces the udp backend's segmentation
 * and coalescing need: a running one's-complement sum of big-endian 16-bit
 * words, left unfolded so sums of pieces add up, and folded at the end.
 */
export function sum16(b: Uint8Array, start: number, end: number, initial = 0): number {
  let s = initial;
  let i = start;
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
