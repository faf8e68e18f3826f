import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fold, sum16 } from './inet-checksum.js';
import { rfc1071 } from './testing/ip-packets.js';

describe('sum16', () => {
  // The 32-bit word path starts at 64 bytes and depends on where the range sits in memory: every alignment, odd and even
  // starts and lengths, against the plain RFC 1071 sum, from an offset into a larger allocation as pooled Buffers are.
  const pool = randomBytes(4096);
  it.each([0, 1, 2, 3, 5, 63, 64, 65, 66, 67, 100, 1420, 1421, 1500, 4000])('sums %i bytes like RFC 1071 from every offset', (len) => {
    for (const base of [0, 1, 2, 3]) {
      const b = pool.subarray(base, base + len + 8);
      for (let start = 0; start < 8 && start + len <= b.length; start++) {
        expect(fold(sum16(b, start, start + len))).toBe(rfc1071(b.subarray(start, start + len)));
      }
    }
  });

  it('adds the initial running sum', () => {
    const b = Buffer.alloc(1500, 0xff);
    expect(fold(sum16(b, 0, 1500, 0x1234))).toBe(fold(rfc1071(b) + 0x1234));
  });
});
