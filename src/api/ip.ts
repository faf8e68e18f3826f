import { isIPv4, isIPv6 } from 'node:net';
import { IPv4, IPv4CidrRange, IPv6, IPv6CidrRange, collapseIPv6Number } from 'ip-num';

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
  if (isIPv4(text)) {
    // isIPv4 admits only canonical dotted quads (no leading zeros), so the text is its own canonical form;
    // computing the value by hand is ~10x cheaper than ip-num, and every endpoint address passes here.
    let n = 0;
    for (const octet of text.split('.')) n = n * 256 + Number(octet);
    return { family: 4, value: BigInt(n), text };
  }
  if (isIPv6(text) && !text.includes('.')) {
    const ip = IPv6.fromHexadecatet(text);
    return { family: 6, value: ip.value, text: collapseIPv6Number(ip.toString()) };
  }
  return undefined;
}

export function ipFromValue(family: IpFamily, value: bigint): IpAddress {
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
  const range = addr.family === 4
    ? IPv4CidrRange.fromCidr(`${addr.text}/${prefixLength}`)
    : IPv6CidrRange.fromCidr(`${addr.text}/${prefixLength}`);
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
