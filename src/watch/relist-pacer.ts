import { realClock, type Clock } from '../runtime/clock.js';

export interface RelistPacerOptions {
  /** Upper bound of the random wait before a forced relist; 0 relists at once. */
  maxMs: number;
  clock?: Clock;
  /** [0, 1): injected by tests for determinism. */
  random?: () => number;
}

/**
 * Spreads forced relists over time. A compaction, an etcd member restart or
 * a restarted proxy breaks the watches of every node at the same moment;
 * relisting at once makes them all range the whole prefix together (the
 * fleet bench measured that storm, docs/scale.md). Each informer waits a
 * uniformly random delay first and serves its cache meanwhile, so N nodes
 * arrive at etcd at about N / maxMs lists per millisecond instead of all at once.
 */
export class RelistPacer {
  private readonly clock: Clock;
  private readonly random: () => number;

  constructor(private readonly options: RelistPacerOptions) {
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next forced relist, in [0, maxMs). */
  nextDelay(): number {
    return Math.floor(this.options.maxMs * this.random());
  }

  /** Waits the next delay (resolving at once when the signal aborts); returns the delay chosen. */
  wait(signal: AbortSignal): Promise<number> {
    const ms = this.nextDelay();
    return new Promise((resolve) => {
      if (ms <= 0 || signal.aborted) return resolve(ms);
      const done = (): void => {
        cancel();
        signal.removeEventListener('abort', done);
        resolve(ms);
      };
      const cancel = this.clock.after(ms, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
