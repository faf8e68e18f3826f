import { describe, expect, it } from 'vitest';
import { AnswerCache } from './answer-cache.js';

describe('AnswerCache', () => {
  it('drops exactly the answers read from a changed name and keeps every other answer', () => {
    const cache = new AnswerCache<string>(100);
    cache.set('web|A', 'web-a', ['web.default.svc.cluster.local']);
    cache.set('alias|A', 'alias-a', ['alias.default.svc.cluster.local', 'web.default.svc.cluster.local']);
    cache.set('db|A', 'db-a', ['db.default.svc.cluster.local']);
    cache.invalidate(['web.default.svc.cluster.local']);
    expect([cache.get('web|A'), cache.get('alias|A'), cache.get('db|A')]).toEqual([undefined, undefined, 'db-a']);
    expect(cache.size).toBe(1);
  });

  it('keeps an answer cached again after an invalidation until its name changes again', () => {
    const cache = new AnswerCache<string>(100);
    cache.set('web|A', 'old', ['web']);
    cache.invalidate(['web']);
    cache.set('web|A', 'new', ['web']);
    cache.invalidate(['db']);
    expect(cache.get('web|A')).toBe('new');
    cache.invalidate(['web']);
    expect(cache.get('web|A')).toBeUndefined();
  });

  it('empties when full rather than growing past its bound, then keeps the answer that overflowed it', () => {
    const cache = new AnswerCache<number>(3);
    for (let i = 0; i < 3; i++) cache.set(`k${i}`, i, [`n${i}`]);
    expect(cache.size).toBe(3);
    cache.set('k3', 3, ['n3']);
    expect(cache.size).toBe(1);
    expect([cache.get('k0'), cache.get('k3')]).toEqual([undefined, 3]);
  });

  it('clear drops every answer', () => {
    const cache = new AnswerCache<number>(10);
    cache.set('a', 1, ['x']);
    cache.clear();
    expect([cache.size, cache.get('a')]).toEqual([0, undefined]);
  });
});
