import { cidrContains, ipFromValue, parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { ConfigError } from '../api/errors.js';

/** Picks an offset in [0, n): random for live allocation, 0 for deterministic offline output. */
export type PickIndex = (n: bigint) => bigint;

export const firstFree: PickIndex = () => 0n;

export function randomPick(n: bigint): bigint {
  // 2^53 is far larger than any range we pick from, so a double suffices.
  return BigInt(Math.floor(Math.random() * Number(n)));
}

/** One range, or one per family (kube-apiserver's dual-stack form, the primary family first). */
export function parseServiceRange(text: string): Cidr[] {
  const flag = '--service-cluster-ip-range';
  const ranges = text.split(',').map((part) => {
    const cidr = parseCidr(part.trim());
    if (!cidr) throw new ConfigError(flag, `${JSON.stringify(part)} is not a CIDR`);
    if (usableSize(cidr) < 1n) throw new ConfigError(flag, `${cidr.text} has no usable addresses`);
    return cidr;
  });
  if (ranges.length > 2) throw new ConfigError(flag, 'must not contain more than two entries');
  if (ranges.length === 2 && ranges[0]?.family === ranges[1]?.family) {
    throw new ConfigError(flag, `${flag}[0] and ${flag}[1] must be of different IP family`);
  }
  return ranges;
}

/**
 * Like kube-apiserver, the network address (and IPv4's broadcast) is
 * never handed out. Usable offsets are 1 … usableSize.
 */
function usableSize(range: Cidr): bigint {
  return range.size - (range.family === 4 ? 2n : 1n);
}

export function isAllocatableIp(range: Cidr, ip: IpAddress): boolean {
  return cidrContains(range, ip) && ip.value > range.first && ip.value - range.first <= usableSize(range);
}

/**
 * Chooses a free address: a start offset from `pick`, then the next free
 * one after it. Random starts keep concurrent allocators from racing for
 * the same address; the etcd transaction settles any race that remains.
 */
export function chooseServiceIp(range: Cidr, taken: ReadonlySet<string>, pick: PickIndex): IpAddress | undefined {
  const n = usableSize(range);
  if (BigInt(taken.size) >= n && n < 1_000_000n) return undefined;
  const start = pick(n);
  const limit = n < 1_000_000n ? n : 1_000_000n;
  for (let i = 0n; i < limit; i++) {
    const ip = ipFromValue(range.family, range.first + 1n + ((start + i) % n));
    if (!taken.has(ip.text)) return ip;
  }
  return undefined;
}

export function normalizeIp(text: string): string | undefined {
  return parseIp(text)?.text;
}
