import { describe, expect, it } from 'vitest';
import { FakeClock } from '../runtime/testing/fake-clock.js';
import { RelistPacer } from './relist-pacer.js';

function tracked(p: Promise<number>): { done: () => boolean; value: () => number | undefined } {
  let value: number | undefined;
  void p.then((v) => (value = v));
  return { done: () => value !== undefined, value: () => value };
}

describe('RelistPacer', () => {
  it('waits the random share of maxMs on the clock before a relist', async () => {
    const clock = new FakeClock();
    const pacer = new RelistPacer({ maxMs: 4_000, clock, random: () => 0.25 });
    const wait = tracked(pacer.wait(new AbortController().signal));
    await clock.advance(999);
    expect(wait.done()).toBe(false);
    await clock.advance(1);
    expect(wait.value()).toBe(1_000);
    expect(clock.pending()).toBe(0);
  });

  it('spreads a fleet of relists over the whole window', () => {
    let i = 0;
    const draws = [0, 0.5, 0.999];
    const pacer = new RelistPacer({ maxMs: 2_000, random: () => draws[i++ % draws.length] ?? 0 });
    expect([pacer.nextDelay(), pacer.nextDelay(), pacer.nextDelay()]).toEqual([0, 1_000, 1_998]);
  });

  it('relists at once without a window, and schedules nothing', async () => {
    const clock = new FakeClock();
    const pacer = new RelistPacer({ maxMs: 0, clock, random: () => 0.9 });
    const wait = tracked(pacer.wait(new AbortController().signal));
    await clock.advance(0);
    expect(wait.value()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('stops waiting when the informer is stopped, and leaves no timer behind', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    const wait = tracked(new RelistPacer({ maxMs: 10_000, clock, random: () => 0.5 }).wait(ac.signal));
    await clock.advance(10);
    expect(wait.done()).toBe(false);
    ac.abort();
    await clock.advance(0);
    expect(wait.done()).toBe(true);
    expect(clock.pending()).toBe(0);
  });
});
