import { describe, expect, it } from 'vitest';
import { comment, probability, rule } from './rule-text.js';

describe('rule text', () => {
  it('leaves out absent tokens (false, undefined) and quotes only the comment', () => {
    expect(rule('-d', '10.96.0.1/32', false, ...comment('ns/web:http'), undefined, '-j', 'KUBE-SVC-X')).toBe(
      '-d 10.96.0.1/32 -m comment --comment "ns/web:http" -j KUBE-SVC-X',
    );
  });

  it("keeps a comment within xt_comment's 256 bytes and free of characters that would break iptables-restore", () => {
    const text = comment(`${'a'.repeat(300)}"\n`)[3] as string;
    expect(text).toHaveLength(255);
    expect(comment('x"y\n-A INPUT -j DROP\\')[3]).toBe('x_y_-A INPUT -j DROP_');
  });

  it('prints probabilities as the kernel reports them back, the same on every call', () => {
    expect([probability(2), probability(3), probability(3), probability(2000), probability(2000)]).toEqual([
      '0.50000000000',
      '0.33333333349',
      '0.33333333349',
      '0.00050000008',
      '0.00050000008',
    ]);
  });
});
