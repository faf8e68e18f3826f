import { isIPv4 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseIp } from './ip.js';

describe('parseIp', () => {
  it('admits exactly the dotted quads node:net admits, with their value', () => {
    const texts = [
      '0.0.0.0',
      '10.244.1.2',
      '255.255.255.255',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3.04',
      '1..2.3',
      '.1.2.3',
      '1.2.3.',
      '1.2.3.4 ',
      '',
      '1.2.3.a',
      '1000.1.1.1',
      '0.00.0.0',
    ];
    for (const text of texts) {
      const ip = parseIp(text);
      expect(ip !== undefined, text).toBe(isIPv4(text));
      if (ip) expect(ip.value).toBe(text.split('.').reduce((n, o) => n * 256n + BigInt(o), 0n));
    }
  });

  it('reads IPv6 in its RFC 5952 form', () => {
    expect(parseIp('fd00:10:96:0::a')).toEqual({ family: 6, value: 0xfd00001000960000000000000000000an, text: 'fd00:10:96::a' });
    expect(parseIp('::ffff:1.2.3.4')).toBeUndefined();
  });
});
