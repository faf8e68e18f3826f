import { describe, expect, it } from 'vitest';
import { formatSelector, matchesSelector, parseSelector } from './label-selector.js';

describe('label selectors (seed 002: =, !=, in, notin)', () => {
  const pods = {
    master: { name: 'redis-master', env: 'production' },
    slave: { name: 'redis-slave', env: 'test' },
    frontend: { name: 'php-frontend' },
  };
  const cases: [string, (keyof typeof pods)[]][] = [
    ['name=redis-slave', ['slave']],
    ['name==redis-slave', ['slave']],
    ['env!=production', ['slave', 'frontend']],
    ['name in (redis-master, redis-slave)', ['master', 'slave']],
    ['name notin (php-frontend)', ['master', 'slave']],
    ['name not in (php-frontend)', ['master', 'slave']],
    ['env', ['master', 'slave']],
    ['!env', ['frontend']],
    ['name in (redis-master,redis-slave),env!=test', ['master']],
  ];
  it.each(cases)('%s', (text, expected) => {
    const sel = parseSelector(text);
    const matched = (Object.keys(pods) as (keyof typeof pods)[]).filter((k) => matchesSelector(sel, pods[k]));
    expect(matched).toEqual(expected);
  });

  it('round-trips through its text form', () => {
    expect(formatSelector(parseSelector('a=b,c!=d,e in (y, x),f notin (p,q),g,!h'))).toBe('a=b,c!=d,e in (x,y),f notin (p,q),g,!h');
  });

  it('rejects what is not a requirement, naming it', () => {
    expect(() => parseSelector('a=b,=c')).toThrow(/"=c" is not a selector requirement/);
  });

  it('matchLabels and matchExpressions must all hold', () => {
    const sel = { matchLabels: { app: 'frontend' }, matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['web'] }] };
    expect(matchesSelector(sel, { app: 'frontend', tier: 'web' })).toBe(true);
    expect(matchesSelector(sel, { app: 'frontend' })).toBe(false);
    expect(matchesSelector(sel, undefined)).toBe(false);
  });
});
