/**
 * Time as every component sees it: the wall clock in ms since the epoch
 * (health reports and metrics want real timestamps) and one-shot timers.
 * Tests hand in the fake clock from ./testing/fake-clock.ts and move time
 * by hand, so nothing in a unit test sleeps.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once after `ms`; 0 means on the next turn of the event loop, after pending I/O. Returns the cancel function. */
  after(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    // setImmediate batches everything one I/O callback (say, one watch response) brings, without setTimeout's 1 ms floor.
    if (ms <= 0) {
      const handle = setImmediate(fn);
      return () => clearImmediate(handle);
    }
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
};
