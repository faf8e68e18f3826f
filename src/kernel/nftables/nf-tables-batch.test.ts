import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import { elementKey } from './nf-tables-batch.js';

describe('elementKey', () => {
  it('lays out a concatenated key as the kernel stores it: each field in network order, padded to 4 bytes', () => {
    expect(elementKey('10.96.0.10 . tcp . 80').toString('hex')).toBe('0a60000a' + '06000000' + '00500000');
    expect(elementKey('udp . 30053').toString('hex')).toBe('11000000' + '75650000');
    expect(elementKey('10.96.0.10').toString('hex')).toBe('0a60000a');
  });

  it('reads a bare number as a numgen slot (a host-order 32-bit integer), and a pair of addresses field by field', () => {
    expect(elementKey('3').toString('hex')).toBe(endianness() === 'LE' ? '03000000' : '00000003');
    expect(elementKey('10.244.1.5 . 8080').toString('hex')).toBe('0af40105' + '1f900000');
    expect(elementKey('10.244.1.5 . 10.244.1.5').toString('hex')).toBe('0af40105' + '0af40105');
  });

  it('lays out IPv6 addresses as 16 bytes in network order, in keys, endpoint values and hairpin pairs', () => {
    const a = 'fd00001000960000000000000000000a';
    expect(elementKey('fd00:10:96::a . tcp . 80').toString('hex')).toBe(a + '06000000' + '00500000');
    const ep = 'fd000010024400010000000000000002';
    expect(elementKey('fd00:10:244:1::2 . 8080').toString('hex')).toBe(ep + '1f900000');
    expect(elementKey('fd00:10:244:1::2 . fd00:10:244:1::2').toString('hex')).toBe(ep + ep);
    expect(elementKey('::1').toString('hex')).toBe('0'.repeat(31) + '1');
  });

  it('refuses a field it cannot encode', () => {
    expect(() => elementKey('10.96.0.10 . icmp')).toThrow(/cannot encode element field "icmp"/);
  });
});
