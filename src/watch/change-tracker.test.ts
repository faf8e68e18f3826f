import { describe, expect, it } from 'vitest';
import { ChangeTracker } from './change-tracker.js';

const tracker = (): ChangeTracker<string, { v: number }> => new ChangeTracker((a, b) => a.v === b.v);

describe('ChangeTracker', () => {
  it('keeps the first previous and the last current', () => {
    const t = tracker();
    t.record('a', { v: 1 }, { v: 2 });
    t.record('a', { v: 2 }, { v: 3 });
    expect([...t.drain()]).toEqual([['a', { previous: { v: 1 }, current: { v: 3 } }]]);
    expect(t.size).toBe(0);
  });

  it('forgets a key whose changes cancel out', () => {
    const t = tracker();
    t.record('a', { v: 1 }, { v: 2 });
    t.record('a', { v: 2 }, { v: 1 });
    t.record('b', undefined, { v: 1 });
    t.record('b', { v: 1 }, undefined);
    expect(t.size).toBe(0);
  });

  it('tracks adds and deletes', () => {
    const t = tracker();
    t.record('new', undefined, { v: 1 });
    t.record('gone', { v: 5 }, undefined);
    t.record('gone', undefined, { v: 6 });
    expect(Object.fromEntries(t.drain())).toEqual({
      new: { previous: undefined, current: { v: 1 } },
      gone: { previous: { v: 5 }, current: { v: 6 } },
    });
  });
});
