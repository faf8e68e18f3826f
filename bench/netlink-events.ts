/**
 * Route and neighbour (incl. VXLAN FDB) changes in several namespaces, as
 * `ip -ts monitor route neigh` prints them, each stamped by `ip` when the
 * kernel handed it over. Waiting on these events instead of polling
 * `ip route` costs nothing between changes and never misses one between
 * polls; the stamps keep the pipe into this process out of the figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';

export interface NetlinkEvent {
  ns: string;
  /** Wall clock, ms since the epoch, µs resolution. */
  atMs: number;
  /** The line after the stamp, e.g. `10.244.5.0/24 via 10.244.5.0 dev flannel.1 onlink` or `Deleted …`. */
  text: string;
}

const LINE = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] (.*?)\s*$/;

/**
 * Wall-clock milliseconds with performance.now()'s resolution (Date.now()
 * has only whole ms): anchored where Date.now() ticks, so compare it only
 * with stamps taken shortly after (call again per measurement).
 */
export function wallClock(): () => number {
  const first = Date.now();
  let tick = first;
  while (tick === first) tick = Date.now();
  const offset = tick - performance.now();
  return () => offset + performance.now();
}

export class NetlinkEvents {
  readonly events: NetlinkEvent[] = [];
  private readonly procs = new Map<string, ChildProcess>();
  private readonly waiters = new Set<() => void>();

  constructor(namespaces: readonly string[]) {
    for (const ns of namespaces) {
      const proc = spawn('ip', ['-n', ns, '-ts', 'monitor', 'route', 'neigh'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let rest = '';
      proc.stdout.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          const m = LINE.exec(line);
          // No zone in the stamp: Date parses it as local time, as `ip` printed it.
          if (m)
            this.events.push({ ns, atMs: new Date(m[1] as string).getTime() + Number(`0.${m[2] as string}`) * 1000, text: m[3] as string });
        }
        for (const wake of this.waiters) wake();
      });
      this.procs.set(ns, proc);
    }
  }

  get pids(): number[] {
    return [...this.procs.values()].flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
  }

  /**
   * Resolves once every monitor is subscribed: a blackhole route inside
   * the bench's own underlay range is added and removed in each namespace
   * until its monitor reports it.
   */
  async ready(probe: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const ns of this.procs.keys()) {
      for (;;) {
        const from = this.events.length;
        await execa('ip', ['-n', ns, 'route', 'add', 'blackhole', probe]);
        await execa('ip', ['-n', ns, 'route', 'del', 'blackhole', probe]);
        const seen = await this.until(
          from,
          (evs) => evs.some((e) => e.ns === ns && e.text.startsWith(`Deleted blackhole ${probe}`)),
          500,
        ).then(
          () => true,
          () => false,
        );
        if (seen) break;
        if (Date.now() > deadline) throw new Error(`ip monitor in ${ns} reported nothing within ${timeoutMs} ms`);
      }
    }
  }

  /** Resolves when `done` holds over the events from index `from` on; rejects after `timeoutMs`. */
  until(from: number, done: (events: NetlinkEvent[]) => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done(this.events.slice(from))) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`netlink events: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  stop(): void {
    for (const p of this.procs.values()) if (p.exitCode === null) p.kill('SIGKILL');
  }
}
