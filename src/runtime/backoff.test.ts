import { describe, expect, it } from 'vitest';
import { Backoff, sleep } from './backoff.js';

describe('Backoff', () => {
  it('doubles up to the cap and starts over after reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 1 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('jitters between half and all of the step', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0 });
    expect([low.next(), low.next(), low.next()]).toEqual([50, 100, 200]);
  });
});

describe('sleep', () => {
  it('returns at once when aborted', async () => {
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort();
    await p;
  });
});
