import { Worker } from 'node:worker_threads';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ClusterSnapshot } from '../api/cluster-state.js';
import type { Cidr } from '../api/ip.js';
import { libc } from '../kernel/tun/libc.js';
import type { Logger } from '../observe/log.js';
import { addMetricsSource } from '../observe/metrics.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import type { Upstream } from './forward.js';
import type { DnsConfig } from './records.js';
import type { ListenAddress } from './server.js';

/** Who may have foreign names resolved, as data a worker can rebuild the policy from (recursionPolicy). */
export interface RecursionScope {
  clusterCidrs: readonly Cidr[];
  nodeAddresses: readonly string[];
}

export interface DnsWorkerData {
  config: DnsConfig;
  upstreams: readonly Upstream[];
  forwardTimeoutMs: number | undefined;
  recursion: RecursionScope;
  sockets: { listen: ListenAddress; fd: number }[];
}

export type ToWorker =
  | { kind: 'update'; snap: ClusterSnapshot; changed: ChangedKeys }
  | { kind: 'metrics'; id: number; names: readonly string[] }
  | { kind: 'stop' };

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

/**
 * Extra threads answering UDP queries beside the agent's own: Node.js 20's
 * dgram has no SO_REUSEPORT, so each worker serves a dup of the agent's
 * bound UDP socket and the kernel hands each datagram to whichever thread
 * reads first. TCP stays on the agent's thread. Every snapshot delivery is
 * posted to every worker in order, so each keeps the same records.
 */
export class DnsWorkers {
  private readonly workers: Worker[] = [];
  private nextId = 0;
  private removeSource: (() => void) | undefined;
  private readonly pending = new Map<number, (metrics: MetricObjectWithValues<MetricValue<string>>[]) => void>();

  constructor(
    private readonly count: number,
    private readonly data: Omit<DnsWorkerData, 'sockets'>,
    private readonly logger: Logger,
  ) {}

  start(sockets: readonly { listen: ListenAddress; fd: number }[]): void {
    for (let i = 0; i < this.count; i++) {
      const data: DnsWorkerData = { ...this.data, sockets: sockets.map((s) => ({ listen: s.listen, fd: libc.dup(s.fd) as number })) };
      const w = new Worker(new URL('./dns-worker.js', import.meta.url), { workerData: data });
      w.on('error', (err) => this.logger.error('dns worker failed', { worker: i, error: err.message }));
      w.on('message', (m: { id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] }) => {
        this.pending.get(m.id)?.(m.metrics);
        this.pending.delete(m.id);
      });
      this.workers.push(w);
    }
    this.removeSource = addMetricsSource(() => this.metrics());
  }

  update(snap: ClusterSnapshot, changed: ChangedKeys): void {
    for (const w of this.workers) w.postMessage({ kind: 'update', snap, changed } satisfies ToWorker);
  }

  stop(): void {
    this.removeSource?.();
    for (const w of this.workers) w.postMessage({ kind: 'stop' } satisfies ToWorker);
  }

  /** Every worker's DNS metrics (a worker that does not answer within a second is left out of this scrape). */
  private async metrics(): Promise<MetricObjectWithValues<MetricValue<string>>[][]> {
    return Promise.all(
      this.workers.map(
        (w) =>
          new Promise<MetricObjectWithValues<MetricValue<string>>[]>((resolve) => {
            const id = this.nextId++;
            const timer = setTimeout(() => {
              this.pending.delete(id);
              resolve([]);
            }, 1000);
            this.pending.set(id, (m) => {
              clearTimeout(timer);
              resolve(m);
            });
            w.postMessage({ kind: 'metrics', id, names: WORKER_METRICS } satisfies ToWorker);
          }),
      ),
    );
  }
}
