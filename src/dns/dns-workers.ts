import { Worker } from 'node:worker_threads';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ClusterSnapshot } from '../api/cluster-state.js';
import type { Cidr } from '../api/ip.js';
import { loadLibc } from '../kernel/tun/libc.js';
import type { Logger } from '../observe/log.js';
import { addMetricsSource } from '../observe/metrics.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import type { Forwarding } from './forward.js';
import type { DnsConfig } from './records.js';
import { snapshotDelta, type SnapshotDelta } from './snapshot-delta.js';

/** Who may have foreign names resolved, as data a worker can rebuild the policy from (recursionPolicy). */
export interface RecursionScope {
  clusterCidrs: readonly Cidr[];
  nodeAddresses: readonly string[];
}

export interface DnsWorkerData {
  config: DnsConfig;
  recursion: RecursionScope;
  /** Foreign names go to the agent's Forwarder (none: REFUSED, as in the agent). */
  forwarding: boolean;
  /** This worker's SO_REUSEPORT socket on each listen address. */
  fds: number[];
  /** Written by the agent after each message, to wake the worker's poll(). */
  wakeFd: number;
  /** Int32 counting the agent's messages, moved before each eventfd write. */
  wakeSeq: SharedArrayBuffer;
}

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

export type ToWorker =
  | { kind: 'update'; delta: SnapshotDelta }
  | { kind: 'forwarded'; id: number; reply: Uint8Array | undefined }
  | { kind: 'metrics'; id: number; names: readonly string[] }
  | { kind: 'stop' };

export type FromWorker =
  | { kind: 'forward'; id: number; query: Uint8Array; questionEnd: number; tcp: boolean }
  | { kind: 'metrics'; id: number; metrics: Metrics }
  | { kind: 'synced' };

/**
 * The DNS metrics workers report; the record and cache gauges stay the
 * agent's own (every thread holds the same records), the rest are summed.
 */
const WORKER_METRICS = [
  'keel_dns_requests_total',
  'keel_dns_request_duration_seconds',
  'keel_dns_forward_requests_total',
  'keel_dns_dropped_packets_total',
];

const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;

interface Thread {
  worker: Worker;
  wakeFd: number;
  seq: Int32Array;
  exited: boolean;
  /** Answering from a snapshot (or gone): until then its socket's queries would get SERVFAIL. */
  synced: boolean;
}

/**
 * The threads answering UDP (--dns-workers N ≥ 1): each owns one socket of
 * every listen address's SO_REUSEPORT group and answers it in batches
 * (udp-batch-server.ts). The agent's thread keeps TCP and forwarding; each
 * delivery reaches every worker as a delta of the changed objects, in order.
 */
export class DnsWorkers {
  private readonly threads: Thread[] = [];
  private nextId = 0;
  private removeSource: (() => void) | undefined;
  private readonly pending = new Map<number, (metrics: Metrics) => void>();
  private hadSlices: boolean | undefined;
  private allSynced!: () => void;
  private readonly whenSynced = new Promise<void>((resolve) => {
    this.allSynced = resolve;
  });

  constructor(
    private readonly data: Omit<DnsWorkerData, 'fds' | 'wakeFd' | 'wakeSeq' | 'forwarding'>,
    private readonly forwarder: Forwarding | undefined,
    private readonly logger: Logger,
  ) {}

  /** One worker per entry: its socket on each listen address (the worker closes them when it stops). */
  start(fdsPerWorker: readonly number[][]): void {
    const libc = loadLibc();
    fdsPerWorker.forEach((fds, i) => {
      const wakeFd = libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number;
      const wakeSeq = new SharedArrayBuffer(4);
      const data: DnsWorkerData = { ...this.data, forwarding: this.forwarder !== undefined, fds, wakeFd, wakeSeq };
      const worker = new Worker(new URL('./dns-worker.js', import.meta.url), { workerData: data });
      const thread: Thread = { worker, wakeFd, seq: new Int32Array(wakeSeq), exited: false, synced: false };
      worker.on('error', (err) => this.logger.error('dns worker failed', { worker: i, error: err.message }));
      worker.on('exit', () => {
        thread.exited = true;
        libc.close(wakeFd);
        this.markSynced(thread);
      });
      worker.on('message', (m: FromWorker) => {
        if (m.kind === 'forward') void this.forward(thread, m);
        else if (m.kind === 'synced') this.markSynced(thread);
        else {
          this.pending.get(m.id)?.(m.metrics);
          this.pending.delete(m.id);
        }
      });
      this.threads.push(thread);
    });
    this.removeSource = addMetricsSource(() => this.metrics());
  }

  /**
   * Resolves once every worker answers from a snapshot (or has exited): a
   * worker starts a fresh isolate and loads its modules, which took up to
   * 1.5 s under load, while the agent thread was already answering.
   */
  synced(): Promise<void> {
    return this.whenSynced;
  }

  isSynced(): boolean {
    return this.threads.every((t) => t.synced);
  }

  private markSynced(t: Thread): void {
    t.synced = true;
    if (this.isSynced()) this.allSynced();
  }

  update(snap: ClusterSnapshot, changed: ChangedKeys): void {
    const delta = snapshotDelta(snap, changed, this.hadSlices);
    this.hadSlices = snap.endpointSlices !== undefined;
    for (const t of this.threads) this.post(t, { kind: 'update', delta });
  }

  stop(): void {
    this.removeSource?.();
    for (const t of this.threads) this.post(t, { kind: 'stop' });
  }

  private post(t: Thread, m: ToWorker): void {
    if (t.exited) return;
    t.worker.postMessage(m);
    Atomics.add(t.seq, 0, 1);
    loadLibc().write(t.wakeFd, ONE, 8);
  }

  private async forward(t: Thread, m: Extract<FromWorker, { kind: 'forward' }>): Promise<void> {
    const query = Buffer.from(m.query.buffer, m.query.byteOffset, m.query.length);
    const reply = await this.forwarder?.forward(query, m.questionEnd, m.tcp).catch(() => undefined);
    this.post(t, { kind: 'forwarded', id: m.id, reply });
  }

  /** Every worker's DNS metrics (a worker that does not answer within a second is left out of this scrape). */
  private async metrics(): Promise<Metrics[]> {
    return Promise.all(
      this.threads.map(
        (t) =>
          new Promise<Metrics>((resolve) => {
            const id = this.nextId++;
            const timer = setTimeout(() => {
              this.pending.delete(id);
              resolve([]);
            }, 1000);
            this.pending.set(id, (m) => {
              clearTimeout(timer);
              resolve(m);
            });
            this.post(t, { kind: 'metrics', id, names: WORKER_METRICS });
          }),
      ),
    );
  }
}

/** The eventfd increment: 1 as a native-endian uint64. */
const ONE = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
