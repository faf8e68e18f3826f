import { beforeEach, describe, expect, it } from 'vitest';
import { parseCidr } from '../api/ip.js';
import { recursionPolicy } from './recursion-policy.js';

describe('recursionPolicy', () => {
  // Made before each test, not at file load, so Stryker runs a mutant in the policy only against the tests that reach it.
  let allowed: (address: string) => boolean;
  beforeEach(() => {
    allowed = recursionPolicy([parseCidr('10.244.0.0/16')!, parseCidr('fd00:10:244::/56')!], ['172.30.0.11', 'fd00:172:30::11']);
  });

  it('lets pods, the node and loopback have foreign names resolved', () => {
    expect(['10.244.3.7', 'fd00:10:244::7', '172.30.0.11', 'fd00:172:30::11', '127.0.0.1', '127.255.0.9', '::1'].map(allowed)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
  });

  it('reads IPv4 clients of a dual-stack socket (::ffff:a.b.c.d) as their IPv4 address', () => {
    expect(['::ffff:10.244.3.7', '::ffff:127.0.0.1', '::ffff:172.30.0.12'].map(allowed)).toEqual([true, true, false]);
  });

  it('refuses everyone else, and anything that is no address', () => {
    expect(['10.245.0.1', '172.30.0.12', '128.0.0.1', '::2', 'fd00:10:245::1', 'not-an-ip', ''].map(allowed)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('ignores a node address it cannot read, and still serves the others', () => {
    const policy = recursionPolicy([], ['not-an-ip', '172.30.0.11']);
    expect(['172.30.0.11', '172.30.0.12', 'not-an-ip'].map(policy)).toEqual([true, false, false]);
  });

  it('keeps its answer for an address however often it is asked, also past the memo bound', () => {
    const policy = recursionPolicy([parseCidr('10.244.0.0/16')!], []);
    for (let i = 0; i < 10_050; i++) policy(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect([policy('10.244.0.1'), policy('10.0.0.1'), policy('10.244.0.1')]).toEqual([true, false, true]);
  });
});
