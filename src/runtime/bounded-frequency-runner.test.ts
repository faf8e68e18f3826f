import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';
import { BoundedFrequencyRunner, type BoundedFrequencyRunnerOptions } from './bounded-frequency-runner.js';
import { FakeClock } from './testing/fake-clock.js';
import { Gate } from './testing/gate.js';

interface Harness {
  clock: FakeClock;
  runner: BoundedFrequencyRunner;
  /** Start times of every run. */
  starts: number[];
  failures: { retryInMs: number }[];
  /** Makes the next run wait until the returned function is called. */
  block(): () => void;
  failNext(n?: number): void;
  /** What a failing run throws: one object, so a test can ask for that very error. */
  broke: Error;
  signal: AbortSignal;
  abort(): void;
  started: Promise<void>;
}

/** Backoff without jitter: 1 s, 2 s, 4 s … capped at 8 s. */
const steadyBackoff = (): Backoff => new Backoff({ initialMs: 1_000, maxMs: 8_000, random: () => 1 });

function harness(opts: Partial<BoundedFrequencyRunnerOptions> = {}): Harness {
  const clock = new FakeClock(1_000_000);
  const starts: number[] = [];
  const failures: Harness['failures'] = [];
  const gate = new Gate();
  let failing = 0;
  const broke = new Error('run broke');
  const runner = new BoundedFrequencyRunner({
    minIntervalMs: 0,
    backoff: steadyBackoff(),
    clock,
    onError: (_err, retryInMs) => failures.push({ retryInMs }),
    ...opts,
    fn: async () => {
      starts.push(clock.now() - 1_000_000);
      if (gate.closed) await gate.closed;
      if (failing > 0) {
        failing--;
        throw broke;
      }
    },
  });
  const ac = new AbortController();
  const started = runner.start(ac.signal);
  return {
    clock,
    runner,
    starts,
    failures,
    signal: ac.signal,
    abort: () => ac.abort(),
    started,
    block: () => gate.block(),
    failNext: (n = 1) => {
      failing = n;
    },
    broke,
  };
}

describe('BoundedFrequencyRunner', () => {
  it('runs nothing until asked, then runs on the next turn', async () => {
    const h = harness();
    await h.clock.advance(60_000);
    expect(h.starts).toEqual([]);
    h.runner.run();
    expect(h.starts).toEqual([]);
    await h.clock.advance(0);
    expect(h.starts).toEqual([60_000]);
  });

  it('keeps the min interval between the starts of two runs', async () => {
    const h = harness({ minIntervalMs: 1_000 });
    h.runner.run();
    await h.clock.advance(0);
    await h.clock.advance(200);
    h.runner.run();
    await h.clock.advance(799);
    expect(h.starts).toEqual([0]);
    await h.clock.advance(1);
    expect(h.starts).toEqual([0, 1_000]);
  });

  it('coalesces requests made during a run or within the min interval into one run', async () => {
    const h = harness({ minIntervalMs: 1_000 });
    const release = h.block();
    h.runner.run();
    await h.clock.advance(0);
    for (let i = 0; i < 5; i++) h.runner.run();
    await h.clock.advance(3_000);
    expect(h.starts).toEqual([0]);
    release();
    await h.clock.advance(0);
    expect(h.starts).toEqual([0, 3_000]);
    for (let i = 0; i < 5; i++) h.runner.run();
    await h.clock.advance(10_000);
    expect(h.starts).toEqual([0, 3_000, 4_000]);
  });

  it('allows a burst of runs back to back, then one per min interval', async () => {
    const h = harness({ minIntervalMs: 1_000, burst: 3 });
    for (let i = 0; i < 5; i++) {
      h.runner.run();
      await h.clock.advance(0);
    }
    expect(h.starts).toEqual([0, 0, 0]);
    await h.clock.advance(1_000);
    expect(h.starts).toEqual([0, 0, 0, 1_000]);
    // Quiet for long enough refills the whole burst.
    await h.clock.advance(10_000);
    for (let i = 0; i < 4; i++) {
      h.runner.run();
      await h.clock.advance(0);
    }
    expect(h.starts).toEqual([0, 0, 0, 1_000, 11_000, 11_000, 11_000]);
  });

  it('retries a failed run after a growing backoff and resets it after a success', async () => {
    const h = harness({ minIntervalMs: 100 });
    h.failNext(3);
    h.runner.run();
    await h.clock.advance(0);
    // A request does not cut the backoff short.
    h.runner.run();
    await h.clock.advance(999);
    expect(h.starts).toEqual([0]);
    await h.clock.advance(1);
    expect(h.starts).toEqual([0, 1_000]);
    await h.clock.advance(2_000);
    expect(h.starts).toEqual([0, 1_000, 3_000]);
    await h.clock.advance(4_000);
    expect(h.starts).toEqual([0, 1_000, 3_000, 7_000]);
    expect(h.failures.map((f) => f.retryInMs)).toEqual([1_000, 2_000, 4_000]);
    await h.clock.advance(60_000);
    expect(h.starts).toHaveLength(4);
    h.failNext();
    h.runner.run();
    await h.clock.advance(0);
    expect(h.failures.map((f) => f.retryInMs)).toEqual([1_000, 2_000, 4_000, 1_000]);
  });

  it('runs periodically after each quiet max interval, measured from the last run', async () => {
    const h = harness({ maxIntervalMs: 30_000 });
    await h.clock.advance(30_000);
    expect(h.starts).toEqual([30_000]);
    await h.clock.advance(10_000);
    h.runner.run();
    await h.clock.advance(0);
    await h.clock.advance(29_999);
    expect(h.starts).toEqual([30_000, 40_000]);
    await h.clock.advance(1);
    expect(h.starts).toEqual([30_000, 40_000, 70_000]);
  });

  it('never overlaps runs, whatever asks for them', async () => {
    let inside = 0;
    let most = 0;
    const clock = new FakeClock();
    const runner = new BoundedFrequencyRunner({
      clock,
      minIntervalMs: 0,
      maxIntervalMs: 10,
      fn: async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise<void>((r) => {
          clock.after(25, r);
        });
        inside--;
      },
    });
    const ac = new AbortController();
    void runner.start(ac.signal);
    for (let t = 0; t < 200; t += 5) {
      runner.run();
      await clock.advance(5);
    }
    ac.abort();
    expect(most).toBe(1);
  });

  it('holds requests while not ready and skips periodic runs', async () => {
    let ready = false;
    const h = harness({ ready: () => ready, maxIntervalMs: 1_000 });
    h.runner.run();
    await h.clock.advance(5_000);
    expect(h.starts).toEqual([]);
    ready = true;
    h.runner.run();
    await h.clock.advance(0);
    expect(h.starts).toEqual([5_000]);
  });

  it('start() resolves after the first successful run', async () => {
    const h = harness();
    let resolved = false;
    void h.started.then(() => {
      resolved = true;
    });
    h.failNext();
    h.runner.run();
    await h.clock.advance(0);
    expect(resolved).toBe(false);
    expect(h.runner.hasSucceeded()).toBe(false);
    await h.clock.advance(1_000);
    expect(resolved).toBe(true);
    expect(h.runner.hasSucceeded()).toBe(true);
  });

  it('flush() resolves after a run that started after the call, and rejects with its error', async () => {
    const h = harness();
    const release = h.block();
    h.runner.run();
    await h.clock.advance(0);
    let flushed = false;
    const first = h.runner.flush().then(() => {
      flushed = true;
    });
    release();
    await h.clock.advance(0);
    expect(h.starts).toEqual([0, 0]);
    await first;
    expect(flushed).toBe(true);
    h.failNext();
    const second = expect(h.runner.flush()).rejects.toBe(h.broke);
    await h.clock.advance(0);
    await second;
  });

  it('stops on abort: start() resolves, nothing runs or stays scheduled', async () => {
    const h = harness({ maxIntervalMs: 1_000 });
    h.abort();
    await h.started;
    h.runner.run();
    await h.clock.advance(10_000);
    expect(h.starts).toEqual([]);
    expect(h.clock.pending()).toBe(0);
  });

  it('lets a run in progress at abort finish, and starts no retry after it', async () => {
    const h = harness();
    const release = h.block();
    h.failNext();
    h.runner.run();
    await h.clock.advance(0);
    h.abort();
    release();
    await h.clock.advance(60_000);
    expect(h.starts).toEqual([0]);
    expect(h.clock.pending()).toBe(0);
  });
});
