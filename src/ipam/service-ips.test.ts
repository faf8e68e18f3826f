import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { chooseServiceIp, firstFree, isAllocatableIp, normalizeIp, parseServiceRange, randomPick } from './service-ips.js';

const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
const ip = (t: string): IpAddress => parseIp(t) as IpAddress;

describe('parseServiceRange', () => {
  it('reads one range per family, comma separated', () => {
    expect(parseServiceRange('10.96.0.0/12, fd00:10:96::/112').map((c) => c.text)).toEqual(['10.96.0.0/12', 'fd00:10:96::/112']);
  });

  it('refuses a non-CIDR and a range without usable addresses, naming the flag', () => {
    expect(() => parseServiceRange('10.96.0.0')).toThrow('--service-cluster-ip-range: "10.96.0.0" is not a CIDR');
    expect(() => parseServiceRange('10.96.0.0/31')).toThrow('--service-cluster-ip-range: 10.96.0.0/31 has no usable addresses');
    expect(parseServiceRange('10.96.0.0/30').map((c) => c.text)).toEqual(['10.96.0.0/30']);
    expect(parseServiceRange('fd00::/127').map((c) => c.text)).toEqual(['fd00::/127']);
  });

  // kube-apiserver's validateClusterIPFlags: at most one range per family.
  it('refuses two ranges of one family and more than two ranges', () => {
    expect(() => parseServiceRange('10.96.0.0/12,10.112.0.0/12')).toThrow(
      '--service-cluster-ip-range: --service-cluster-ip-range[0] and --service-cluster-ip-range[1] must be of different IP family',
    );
    expect(() => parseServiceRange('10.96.0.0/12,fd00:10:96::/112,10.112.0.0/12')).toThrow(
      '--service-cluster-ip-range: must not contain more than two entries',
    );
  });
});

describe('isAllocatableIp', () => {
  it('excludes the network address and IPv4 broadcast, and anything outside', () => {
    const v4 = cidr('10.0.0.0/29');
    expect(['10.0.0.0', '10.0.0.1', '10.0.0.6', '10.0.0.7', '10.0.0.8'].map((t) => isAllocatableIp(v4, ip(t)))).toEqual([
      false,
      true,
      true,
      false,
      false,
    ]);
    const v6 = cidr('fd00::/126');
    expect(['fd00::', 'fd00::1', 'fd00::3', 'fd00::4'].map((t) => isAllocatableIp(v6, ip(t)))).toEqual([false, true, true, false]);
  });
});

describe('chooseServiceIp', () => {
  it('uses every usable address of a small range before reporting it full', () => {
    const r = cidr('10.0.0.0/29');
    const all = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'];
    expect(chooseServiceIp(r, new Set(all.slice(0, 5)), firstFree)?.text).toBe('10.0.0.6');
    expect(chooseServiceIp(r, new Set(all), firstFree)).toBeUndefined();
  });

  it('in a huge range, finds a free address past the taken ones', () => {
    const r = cidr('fd00::/64');
    expect(chooseServiceIp(r, new Set(['fd00::1', 'fd00::2']), firstFree)?.text).toBe('fd00::3');
  });

  it('picks random starts inside the range', () => {
    for (let i = 0; i < 50; i++) {
      const p = randomPick(6n);
      expect(p >= 0n && p < 6n).toBe(true);
    }
    expect(new Set(Array.from({ length: 200 }, () => randomPick(6n))).size).toBeGreaterThan(1);
  });
});

describe('normalizeIp', () => {
  it('gives the canonical text, or nothing for a non-address', () => {
    expect(normalizeIp('fd00:0:0::1')).toBe('fd00::1');
    expect(normalizeIp('10.96.0.1')).toBe('10.96.0.1');
    expect(normalizeIp('nope')).toBeUndefined();
  });
});
