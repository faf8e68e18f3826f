import { describe, expect, it } from 'vitest';
import { AnswerCache } from './answer-cache.js';

/** Variants as the handler numbers them: query type × 2, plus 1 with EDNS. */
const A = 2;
const A_EDNS = 3;
const AAAA = 56;

describe('AnswerCache', () => {
  it('drops exactly the answers read from a changed name and keeps every other answer', () => {
    const cache = new AnswerCache<string>(100);
    cache.set(A, 'web', 'web-a', ['web.default.svc.cluster.local']);
    cache.set(A, 'alias', 'alias-a', ['alias.default.svc.cluster.local', 'web.default.svc.cluster.local']);
    cache.set(A, 'db', 'db-a', ['db.default.svc.cluster.local']);
    cache.invalidate(['web.default.svc.cluster.local']);
    expect([cache.get(A, 'web'), cache.get(A, 'alias'), cache.get(A, 'db')]).toEqual([undefined, undefined, 'db-a']);
    expect(cache.size).toBe(1);
  });

  it('keeps the variants of one name apart: each is its own answer, dropped only through the names it read', () => {
    const cache = new AnswerCache<string>(100);
    cache.set(A, 'web', 'a', ['web']);
    cache.set(A_EDNS, 'web', 'a+edns', ['web']);
    cache.set(AAAA, 'web', 'aaaa', ['web', 'target']);
    cache.set(A, 'web', 'a again', ['web']);
    expect([cache.get(A, 'web'), cache.get(A_EDNS, 'web'), cache.get(AAAA, 'web'), cache.size]).toEqual(['a again', 'a+edns', 'aaaa', 3]);
    cache.invalidate(['target']);
    expect([cache.get(A, 'web'), cache.get(A_EDNS, 'web'), cache.get(AAAA, 'web'), cache.size]).toEqual([
      'a again',
      'a+edns',
      undefined,
      2,
    ]);
  });

  it('keeps an answer cached again after an invalidation until its name changes again', () => {
    const cache = new AnswerCache<string>(100);
    cache.set(A, 'web', 'old', ['web']);
    cache.invalidate(['web']);
    cache.set(A, 'web', 'new', ['web']);
    cache.invalidate(['db']);
    expect(cache.get(A, 'web')).toBe('new');
    cache.invalidate(['web']);
    expect(cache.get(A, 'web')).toBeUndefined();
  });

  it('empties when full rather than growing past its bound, then keeps the answer that overflowed it', () => {
    const cache = new AnswerCache<number>(3);
    for (let i = 0; i < 3; i++) cache.set(A, `k${i}`, i, [`n${i}`]);
    expect(cache.size).toBe(3);
    cache.set(A, 'k3', 3, ['n3']);
    expect(cache.size).toBe(1);
    expect([cache.get(A, 'k0'), cache.get(A, 'k3')]).toEqual([undefined, 3]);
  });

  it('clear drops every answer', () => {
    const cache = new AnswerCache<number>(10);
    cache.set(A, 'a', 1, ['x']);
    cache.clear();
    expect([cache.size, cache.get(A, 'a')]).toEqual([0, undefined]);
  });
});
