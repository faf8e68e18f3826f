/**
 * The simulated nodes of one fleet run, spread over a few worker processes
 * (bench/fleet/node-worker.ts) inside the cluster's network namespace, and
 * the questions the bench asks them: when did each node hold its full state,
 * when did it first hold each written change, how many relists so far.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { sleep } from '../../src/runtime/backoff.js';
import type { FromWorker, NodeDiff, NodeSpec, ToWorker, WorkerStats } from './node-worker.js';

export interface Change {
  /** The Endpoints' namespace/name. */
  name: string;
  rev: number;
  /** Wall time (performance.timeOrigin + now) it was sent or the scenario's moment. */
  at: number;
}

export const wallNow = (): number => performance.timeOrigin + performance.now();

interface Worker {
  child: ChildProcess;
  nodes: NodeSpec[];
  waiting: ((msg: FromWorker) => void)[];
}

export class FleetNodes {
  private readonly workers: Worker[] = [];
  /** Wall time each node first held its full state. */
  readonly syncedAt = new Map<number, number>();

  constructor(
    private readonly netns: string,
    private readonly nodes: readonly NodeSpec[],
    private readonly processes: number,
    private readonly relistJitterMs: number,
    /** Thin simulated nodes (thin-node.ts) instead of full ones. */
    private readonly thin: boolean,
  ) {}

  /** Starts the worker processes; resolves when every one has loaded and waits for start(). */
  async spawn(): Promise<void> {
    for (let w = 0; w < this.processes; w++) {
      const nodes = this.nodes.filter((_, i) => i % this.processes === w);
      // `ip netns exec` execs node in place: the child's pid is the worker's, to be ended by pid.
      const child = spawn(
        'ip',
        ['netns', 'exec', this.netns, process.execPath, '--max-old-space-size=8192', 'dist-dev/bench/fleet/node-worker.js'],
        { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' },
      );
      const worker: Worker = { child, nodes, waiting: [] };
      const ready = new Promise<void>((resolve) => worker.waiting.push(() => resolve()));
      child.on('message', (msg: FromWorker) => {
        if (msg.type === 'synced') this.syncedAt.set(msg.id, msg.at);
        else worker.waiting.shift()?.(msg);
      });
      this.workers.push(worker);
      await ready;
    }
  }

  /** Starts every node at once (the cold-start storm); true when all hold their full state within the timeout. */
  async start(timeoutMs: number): Promise<boolean> {
    for (const w of this.workers) this.send(w, { type: 'start', nodes: w.nodes, relistJitterMs: this.relistJitterMs, thin: this.thin });
    const deadline = Date.now() + timeoutMs;
    while (this.syncedAt.size < this.nodes.length) {
      if (Date.now() > deadline) return false;
      await sleep(100);
    }
    return true;
  }

  /** Per change, every node's delay from the change's `at` until it held it (NaN: not yet). */
  async seen(changes: readonly Change[]): Promise<Float64Array[]> {
    const parts = await Promise.all(this.workers.map((w) => this.ask(w, { type: 'seen', changes: [...changes] })));
    return changes.map((_, i) => {
      const out: number[] = [];
      for (const p of parts) if (p.type === 'seen') out.push(...p.latencies.subarray(i * p.nodes, (i + 1) * p.nodes));
      return Float64Array.from(out);
    });
  }

  /** Waits until every node held every change (or the timeout), then returns seen(). */
  async waitSeen(changes: readonly Change[], timeoutMs: number): Promise<Float64Array[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lat = await this.seen(changes);
      if (lat.every((xs) => xs.every((x) => !Number.isNaN(x))) || Date.now() > deadline) return lat;
      await sleep(250);
    }
  }

  async stats(): Promise<WorkerStats> {
    const all = await Promise.all(this.workers.map((w) => this.ask(w, { type: 'stats' })));
    const sum: WorkerStats = { rssMb: 0, heapMb: 0, synced: 0, relists: 0, reconnects: 0, disconnected: 0 };
    for (const m of all) {
      if (m.type !== 'stats') continue;
      for (const k of Object.keys(sum) as (keyof WorkerStats)[]) sum[k] += m.stats[k];
    }
    return sum;
  }

  /** The nodes whose Endpoints cache differs from `truth` (key → mod revision), with what differs. */
  async diffs(truth: readonly [string, number][]): Promise<NodeDiff[]> {
    const all = await Promise.all(this.workers.map((w) => this.ask(w, { type: 'diff', truth: [...truth] })));
    return all.flatMap((m) => (m.type === 'diff' ? m.nodes : []));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        const gone = new Promise<void>((resolve) => (w.child.exitCode !== null ? resolve() : w.child.once('exit', () => resolve())));
        if (w.child.connected) this.send(w, { type: 'stop' });
        const timer = setTimeout(() => w.child.kill('SIGKILL'), 5_000);
        await gone;
        clearTimeout(timer);
      }),
    );
    this.workers.length = 0;
  }

  private send(w: Worker, msg: ToWorker): void {
    w.child.send(msg);
  }

  private ask(w: Worker, msg: ToWorker): Promise<FromWorker> {
    return new Promise((resolve) => {
      w.waiting.push(resolve);
      this.send(w, msg);
    });
  }
}
