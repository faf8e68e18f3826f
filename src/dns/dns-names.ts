import { parseIp, type Cidr, type IpAddress } from '../api/ip.js';

/**
 * Names inside keel's DNS code are lowercase, without the trailing dot, with
 * labels joined by "." (a label holding "." or odd bytes is escaped \DDD, so
 * it can never collide with a real name). Only the wire edge sees anything else.
 */
export function canonicalName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/** `10.244.1.5` → `10-244-1-5`; `fd00::1` → `fd00--1` (CoreDNS's dashed form). */
export function dashedIp(ip: string): string {
  return ip.replace(/[.:]/g, '-');
}

/** The PTR owner name of an address: `5.1.244.10.in-addr.arpa`, or nibbles under ip6.arpa. */
export function reverseName(ip: IpAddress): string {
  if (ip.family === 4) return `${ip.text.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${nibbles(ip.value, 32).reverse().join('.')}.ip6.arpa`;
}

/** The address a full reverse name stands for, or undefined for partial or foreign names. */
export function ipFromReverseName(name: string): IpAddress | undefined {
  if (name.endsWith('.in-addr.arpa')) {
    const parts = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p))) return undefined;
    return parseIp(parts.reverse().join('.'));
  }
  if (name.endsWith('.ip6.arpa')) {
    const parts = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32 || !parts.every((p) => /^[0-9a-f]$/.test(p))) return undefined;
    const hex = parts.reverse().join('');
    return parseIp(hex.match(/.{4}/g)?.join(':') ?? '');
  }
  return undefined;
}

/**
 * The reverse zone keel is authoritative for when serving a CIDR: the
 * longest whole-octet (or whole-nibble) prefix covering it, e.g. 10.96.0.0/12
 * → `10.in-addr.arpa`.
 */
export function reverseZone(cidr: Cidr): string {
  if (cidr.family === 4) {
    const octets = Math.floor(cidr.prefixLength / 8);
    const first = Number(cidr.first);
    const parts = [first >>> 24, (first >>> 16) & 255, (first >>> 8) & 255, first & 255].slice(0, octets);
    return [...parts.reverse().map(String), 'in-addr', 'arpa'].join('.');
  }
  const count = Math.floor(cidr.prefixLength / 4);
  return [...nibbles(cidr.first, 32).slice(0, count).reverse(), 'ip6', 'arpa'].join('.');
}

function nibbles(value: bigint, count: number): string[] {
  const out: string[] = [];
  for (let i = count - 1; i >= 0; i--) out.push(((value >> BigInt(i * 4)) & 15n).toString(16));
  return out;
}

/** True when `name` is `zone` or below it. */
export function isInZone(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith(`.${zone}`);
}
