import { Backoff } from './backoff.js';
import { realClock, type Clock } from './clock.js';

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

export interface BoundedFrequencyRunnerOptions {
  /** One run. Throwing marks it failed: a retry follows after the backoff. */
  readonly fn: () => Promise<void> | void;
  /** Least time between the starts of two runs once the burst is spent (0: no limit). */
  readonly minIntervalMs: number;
  /** Runs allowed back to back before `minIntervalMs` applies, refilled one per interval (default 1). */
  readonly burst?: number;
  /** A run at least this long after the previous one ended, asked for or not (periodic resync); default none. */
  readonly maxIntervalMs?: number;
  /** Delay before a failed run is retried; no run of any kind starts before it. Default 1 s doubling to 30 s. */
  readonly backoff?: Backoff;
  /** While false, requests wait (the component calls `run()` again once ready) and periodic runs are skipped. */
  readonly ready?: () => boolean;
  /** Told about each failure and the delay before the retry, to log it in the component's words. */
  readonly onError?: (err: unknown, retryInMs: number) => void;
  readonly clock?: Clock;
}

/**
 * The one reconcile loop, after kube-proxy's BoundedFrequencyRunner:
 * handlers call `run()` as often as they like; requests that arrive while
 * a run is busy or too soon after the last one coalesce into one run, so
 * runs never overlap and start no more often than the min interval allows
 * (after a burst). A failed run is retried after a backoff, and a periodic
 * run follows every quiet `maxIntervalMs`. Nothing runs before `start()`.
 */
export class BoundedFrequencyRunner {
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly burst: number;
  private tokens: number;
  private tokensAt = 0;
  private requested = false;
  private running = false;
  private started = false;
  private stopped = false;
  /** No run starts before this (set after a failure). */
  private notBefore = Number.NEGATIVE_INFINITY;
  /** When the last run ended (or the runner started): the periodic run is due maxIntervalMs later. */
  private idleSince = 0;
  private timer: { at: number; cancel: () => void } | undefined;
  private succeeded = false;
  /** flush() callers waiting for a run that starts after their call. */
  private waiting: Waiter[] = [];
  private readonly firstSuccess: Promise<void>;
  private resolveFirst!: () => void;

  constructor(private readonly options: BoundedFrequencyRunnerOptions) {
    this.clock = options.clock ?? realClock;
    this.backoff = options.backoff ?? new Backoff({ initialMs: 1_000, maxMs: 30_000 });
    this.burst = Math.max(1, options.burst ?? 1);
    this.tokens = this.burst;
    this.firstSuccess = new Promise((resolve) => {
      this.resolveFirst = resolve;
    });
  }

  /**
   * Runs until the signal aborts. Resolves after the first successful run
   * (or on abort); a run in progress at abort finishes, no other starts.
   */
  start(signal: AbortSignal): Promise<void> {
    if (this.started) throw new Error('runner already started');
    this.started = true;
    this.idleSince = this.clock.now();
    this.tokensAt = this.idleSince;
    const stop = (): void => {
      this.stopped = true;
      this.timer?.cancel();
      this.timer = undefined;
      this.resolveFirst();
      for (const w of this.waiting.splice(0)) w.resolve();
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    this.schedule();
    return this.firstSuccess;
  }

  /** Asks for a run as soon as the limits allow; never runs synchronously. */
  run(): void {
    this.requested = true;
    this.schedule();
  }

  /**
   * Asks for a run and resolves after it ends (rejects with its error), or
   * at abort: for a driver that must see its change applied before it goes
   * on, such as a test's node process.
   */
  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return resolve();
      this.waiting.push({ resolve, reject });
      this.run();
    });
  }

  /** Whether a run has succeeded since start. */
  hasSucceeded(): boolean {
    return this.succeeded;
  }

  /** Arms the one timer for the earliest run due: a request (ready and within the rate limit) or the periodic run. */
  private schedule(): void {
    if (!this.started || this.stopped || this.running) return;
    const ready = this.options.ready?.() ?? true;
    let at = Number.POSITIVE_INFINITY;
    if (this.requested && ready) at = this.tokenAt();
    if (this.options.maxIntervalMs !== undefined) at = Math.min(at, Math.max(this.idleSince + this.options.maxIntervalMs, this.tokenAt()));
    if (at === Number.POSITIVE_INFINITY) return;
    at = Math.max(at, this.notBefore);
    if (this.timer && this.timer.at <= at) return;
    this.timer?.cancel();
    const cancel = this.clock.after(at - this.clock.now(), () => {
      this.timer = undefined;
      void this.tick();
    });
    this.timer = { at, cancel };
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.running) return;
    if (!(this.options.ready?.() ?? true)) {
      // Not ready yet: the periodic run is skipped; a request waits for the component's next run().
      this.idleSince = this.clock.now();
      this.schedule();
      return;
    }
    this.takeToken();
    this.running = true;
    this.requested = false;
    const waiters = this.waiting.splice(0);
    try {
      await this.options.fn();
      this.backoff.reset();
      this.succeeded = true;
      this.resolveFirst();
      for (const w of waiters) w.resolve();
    } catch (err) {
      const retryIn = this.backoff.next();
      this.notBefore = this.clock.now() + retryIn;
      this.requested = true;
      this.options.onError?.(err, retryIn);
      for (const w of waiters) w.reject(err);
    } finally {
      this.running = false;
      this.idleSince = this.clock.now();
    }
    this.schedule();
  }

  /** When the token bucket next holds a whole token (now, if it does). */
  private tokenAt(): number {
    const min = this.options.minIntervalMs;
    const now = this.clock.now();
    if (min <= 0) return now;
    const tokens = Math.min(this.burst, this.tokens + (now - this.tokensAt) / min);
    return tokens >= 1 ? now : now + (1 - tokens) * min;
  }

  private takeToken(): void {
    const min = this.options.minIntervalMs;
    const now = this.clock.now();
    if (min <= 0) return;
    this.tokens = Math.max(0, Math.min(this.burst, this.tokens + (now - this.tokensAt) / min) - 1);
    this.tokensAt = now;
  }
}
