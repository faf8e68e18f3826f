import { describe, expect, it } from 'vitest';
import { ValidationError } from '../api/errors.js';
import { InformerCache } from './informer-cache.js';

interface Obj {
  n: number;
}

/** Values are `n=<number>`; anything else is invalid. */
function decode(key: string, value: Buffer): Obj {
  const m = /^n=(\d+)$/.exec(value.toString());
  if (!m) throw new ValidationError(key, 'value', `bad value ${JSON.stringify(value.toString())}`);
  return { n: Number(m[1]) };
}

function cache(): { c: InformerCache<Obj>; invalid: string[] } {
  const invalid: string[] = [];
  const c = new InformerCache<Obj>(decode, (key, rev) => invalid.push(`${key}@${rev}`));
  return { c, invalid };
}

const put = (key: string, v: string, modRevision: number) => ({ key, value: Buffer.from(v), modRevision });
const entry = (key: string, v: string, modRevision: number) => ({ ...put(key, v, modRevision), createRevision: 1, lease: '0' });

describe('InformerCache', () => {
  it('turns puts and deletes into add, update and delete events', () => {
    const { c } = cache();
    expect(c.apply(put('/a', 'n=1', 2))).toEqual({ type: 'add', key: '/a', object: { n: 1 } });
    expect(c.apply(put('/a', 'n=2', 3))).toEqual({ type: 'update', key: '/a', object: { n: 2 }, previous: { n: 1 } });
    expect(c.apply({ key: '/a', value: undefined, modRevision: 4 })).toEqual({ type: 'delete', key: '/a', object: { n: 2 } });
    expect(c.apply({ key: '/missing', value: undefined, modRevision: 5 })).toBeUndefined();
    expect(c.objects.size).toBe(0);
  });

  it('drops the valid version when a key turns invalid, reporting each bad value once', () => {
    const { c, invalid } = cache();
    c.apply(put('/a', 'n=1', 2));
    expect(c.apply(put('/a', 'garbage', 3))).toEqual({ type: 'delete', key: '/a', object: { n: 1 } });
    expect(c.apply(put('/a', 'garbage', 3))).toBeUndefined();
    expect(c.apply(put('/a', 'garbage', 4))).toBeUndefined();
    expect(invalid).toEqual(['/a@3', '/a@4']);
    expect(c.apply(put('/a', 'n=5', 5))).toEqual({ type: 'add', key: '/a', object: { n: 5 } });
    expect(c.invalidCount).toBe(0);
  });

  it('relists to exactly the listing and emits only the difference', () => {
    const { c, invalid } = cache();
    c.replace([entry('/keep', 'n=1', 2), entry('/change', 'n=1', 3), entry('/gone', 'n=1', 4), entry('/bad', 'x', 5)]);
    expect(invalid).toEqual(['/bad@5']);
    const events = c.replace([entry('/keep', 'n=1', 2), entry('/change', 'n=2', 9), entry('/new', 'n=3', 10), entry('/bad', 'x', 5)]);
    expect(events).toEqual([
      { type: 'update', key: '/change', object: { n: 2 }, previous: { n: 1 } },
      { type: 'add', key: '/new', object: { n: 3 } },
      { type: 'delete', key: '/gone', object: { n: 1 } },
    ]);
    expect(invalid).toEqual(['/bad@5']);
    expect(Object.fromEntries(c.objects)).toEqual({ '/keep': { n: 1 }, '/change': { n: 2 }, '/new': { n: 3 } });
    c.replace([]);
    expect(c.objects.size).toBe(0);
    expect(c.invalidCount).toBe(0);
  });

  it('decodes everything again when revisions cannot be trusted (etcd replaced)', () => {
    const { c } = cache();
    c.replace([entry('/a', 'n=1', 2)]);
    expect(c.replace([entry('/a', 'n=9', 2)])).toEqual([]);
    expect(c.replace([entry('/a', 'n=9', 2)], false)).toEqual([{ type: 'update', key: '/a', object: { n: 9 }, previous: { n: 1 } }]);
  });
});
