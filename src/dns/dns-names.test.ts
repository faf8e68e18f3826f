import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { canonicalName, dashedIp, ipFromReverseName, isInZone, reverseName, reverseZone } from './dns-names.js';

const ip = (t: string): IpAddress => parseIp(t) as IpAddress;
const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
const V6_REVERSE = '0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa';

describe('DNS names', () => {
  it('canonicalises a name: lowercase, no trailing dot', () => {
    expect(['Web.Default.SVC.cluster.local.', 'cluster.local', '.'].map(canonicalName)).toEqual([
      'web.default.svc.cluster.local',
      'cluster.local',
      '',
    ]);
  });

  it("spells an address with dashes as CoreDNS's pod and endpoint names do", () => {
    expect([dashedIp('10.244.1.5'), dashedIp('fd00::1')]).toEqual(['10-244-1-5', 'fd00--1']);
  });

  it('names the PTR owner of an IPv4 and an IPv6 address, and reads the address back', () => {
    expect(reverseName(ip('10.96.0.20'))).toBe('20.0.96.10.in-addr.arpa');
    expect(reverseName(ip('fd00:10:96::30'))).toBe(V6_REVERSE);
    expect(ipFromReverseName('20.0.96.10.in-addr.arpa')?.text).toBe('10.96.0.20');
    expect(ipFromReverseName(V6_REVERSE)?.text).toBe('fd00:10:96::30');
  });

  it('reads no address from partial, padded, out-of-range or foreign reverse names', () => {
    const names = [
      '0.96.10.in-addr.arpa', // three octets: a zone, not an address
      '1.20.0.96.10.in-addr.arpa', // five
      '020.0.96.10.in-addr.arpa', // leading zero
      '256.0.96.10.in-addr.arpa', // no octet
      '1000.0.96.10.in-addr.arpa',
      'x.0.96.10.in-addr.arpa',
      '20.0.96.10.in-addr.arpa.example.com',
      V6_REVERSE.slice(2), // 31 nibbles
      `0.${V6_REVERSE}`, // 33
      V6_REVERSE.replace(/^0/, 'g'), // no hex digit
      V6_REVERSE.replace(/^0/, '00'), // two digits in one label
      V6_REVERSE.replace('d.f.ip6', 'D.F.ip6'), // names are canonical (lowercase) by now
      V6_REVERSE.replace('.ip6.arpa', '.ip6-arpa'), // 32 nibbles under a foreign suffix of the same length
      '::1.in-addr.arpa', // an IPv6 text is no IPv4 reverse name
      'web.default.svc.cluster.local',
    ];
    expect(names.map((n) => ipFromReverseName(n)?.text)).toEqual(names.map(() => undefined));
  });

  it('takes the longest whole-octet or whole-nibble reverse zone covering a range', () => {
    expect(
      [
        '10.96.0.0/12',
        '10.244.0.0/16',
        '192.168.7.0/24',
        '10.1.2.3/32',
        '10.0.0.0/7',
        'fd00:10:96::/112',
        'fd00:10:244::/56',
        '2001:db8::/30',
        '::/0',
      ].map((c) => reverseZone(cidr(c))),
    ).toEqual([
      '10.in-addr.arpa',
      '244.10.in-addr.arpa',
      '7.168.192.in-addr.arpa',
      '3.2.1.10.in-addr.arpa',
      'in-addr.arpa',
      '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa',
      '0.0.4.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa',
      'b.d.0.1.0.0.2.ip6.arpa',
      'ip6.arpa',
    ]);
  });

  it('puts a name in a zone when it is the apex or below it, never a mere suffix of a label', () => {
    expect([
      isInZone('web.default.svc.cluster.local', 'cluster.local'),
      isInZone('cluster.local', 'cluster.local'),
      isInZone('mycluster.local', 'cluster.local'),
      isInZone('cluster.local.example.com', 'cluster.local'),
      isInZone('example.com', ''),
    ]).toEqual([true, true, false, false, true]);
  });
});
