import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import type * as IpNum from 'ip-num';

/**
 * ip-num, loaded on first use and through require: Node 20's ESM loader
 * takes ~0.2 s of every keel start to import this CommonJS package, and
 * most commands (every `--help`, a dotted-quad parse) never call it.
 */
let loaded: typeof IpNum | undefined;
const ipNum = (): typeof IpNum => (loaded ??= createRequire(import.meta.url)('ip-num') as typeof IpNum);

/** Addresses and CIDRs are parsed once, at the edge, into these value types. */
export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
  /** Canonical text: dotted quad, or RFC 5952 compressed IPv6. */
  readonly text: string;
}

export interface Cidr {
  readonly family: IpFamily;
  readonly first: bigint;
  readonly size: bigint;
  readonly prefixLength: number;
  readonly text: string;
}

export function parseIp(text: string): IpAddress | undefined {
  const v4 = ipv4Value(text);
  if (v4 !== undefined) return { family: 4, value: BigInt(v4), text };
  if (isIPv6(text) && !text.includes('.')) {
    const { IPv6, collapseIPv6Number } = ipNum();
    const ip = IPv6.fromHexadecatet(text);
    return { family: 6, value: ip.value, text: collapseIPv6Number(ip.toString()) };
  }
  return undefined;
}

/**
 * The value of a canonical dotted quad (what node:net's isIPv4 admits: four
 * decimal octets ≤ 255, no leading zeros), so the text is its own canonical
 * form. By hand, in one pass: every endpoint address of every full sync
 * passes here, and ip-num, or a split, cost several times as much.
 */
function ipv4Value(text: string): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
      continue;
    }
    if (c < 48 || c > 57 || (digits === 1 && octet === 0)) return undefined;
    octet = octet * 10 + (c - 48);
    digits++;
    if (octet > 255) return undefined;
  }
  return dots === 3 && digits > 0 ? value * 256 + octet : undefined;
}

/**
 * kube-proxy's netutils.ParseIPSloppy: as parseIp, but IPv4 octets with
 * leading zeros read as decimal (`172.30.0.041` is 172.30.0.41), as Go's
 * parser did before 1.17; objects written then are still in etcd.
 */
export function parseIpSloppy(text: string): IpAddress | undefined {
  const strict = parseIp(text);
  if (strict) return strict;
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  const octets = m?.slice(1).map(Number);
  return octets?.every((o) => o <= 255) ? parseIp(octets.join('.')) : undefined;
}

/** netutils.ParseCIDRSloppy: parseCidr with a sloppy address part. */
export function parseCidrSloppy(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? undefined : parseIpSloppy(text.slice(0, slash));
  return addr ? parseCidr(`${addr.text}${text.slice(slash)}`) : undefined;
}

export function ipFromValue(family: IpFamily, value: bigint): IpAddress {
  const { IPv4, IPv6, collapseIPv6Number } = ipNum();
  const text = family === 4 ? new IPv4(value).toString() : collapseIPv6Number(new IPv6(value).toString());
  return { family, value, text };
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!addr || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  const bits = addr.family === 4 ? 32 : 128;
  if (prefixLength > bits) return undefined;
  const { IPv4CidrRange, IPv6CidrRange } = ipNum();
  const range =
    addr.family === 4 ? IPv4CidrRange.fromCidr(`${addr.text}/${prefixLength}`) : IPv6CidrRange.fromCidr(`${addr.text}/${prefixLength}`);
  const first = range.getFirst().value;
  const base = ipFromValue(addr.family, first);
  return { family: addr.family, first, size: range.getSize(), prefixLength, text: `${base.text}/${prefixLength}` };
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  return cidr.family === ip.family && ip.value >= cidr.first && ip.value < cidr.first + cidr.size;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.first < b.first + b.size && b.first < a.first + a.size;
}
