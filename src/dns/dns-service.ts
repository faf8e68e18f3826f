import type { ClusterSnapshot } from '../api/cluster-state.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import { isKeelError } from '../api/errors.js';
import { createLogger, type Logger } from '../observe/log.js';
import { DnsHandler } from './dns-handler.js';
import { DnsWorkers, type RecursionScope } from './dns-workers.js';
import { Forwarder, type Upstream } from './forward.js';
import type { DnsConfig } from './records.js';
import { probeBatchedUdp } from './reuseport-group.js';
import { DnsServer, type ListenAddress } from './server.js';

/** What DNS needs from the watch layer; ClusterWatch provides it, tests may hand in snapshots. */
export interface SnapshotFeed {
  subscribe(consumer: (snap: ClusterSnapshot, changed: ChangedKeys) => Promise<void> | void): () => void;
}

export interface DnsServiceOptions {
  config: DnsConfig;
  /** One server (UDP and TCP) per address; the first is the one address() reports. */
  listen: readonly ListenAddress[];
  source: SnapshotFeed;
  /** No upstreams: foreign names are REFUSED. */
  upstreams: readonly Upstream[];
  recursionAllowed: (address: string) => boolean;
  forwardTimeoutMs?: number;
  logger?: Logger;
  /**
   * Worker threads answering UDP (--dns-workers, default 1), each with its
   * own SO_REUSEPORT socket answered in batches, rebuilding the recursion
   * policy from `recursion`. None (count 0, or no udpThreads): the agent's
   * own thread answers UDP through a Node.js dgram socket, without koffi;
   * so does it, after one warning, where koffi cannot load or the kernel
   * refuses recvmmsg/sendmmsg (probeBatchedUdp).
   */
  udpThreads?: { count: number; recursion: RecursionScope };
}

/**
 * The DNS server as one agent component: sockets, handler and forwarder,
 * the record index updated from every delivery of the source (only what changed).
 * Health: ready after the first snapshot.
 */
export class DnsService {
  readonly name = 'dns';
  readonly handler: DnsHandler;
  private servers: DnsServer[] = [];
  private readonly log: Logger;
  private workers: DnsWorkers | undefined;
  private readonly forwarder: Forwarder | undefined;

  constructor(private readonly options: DnsServiceOptions) {
    this.log = options.logger ?? createLogger('dns');
    const forwarder = options.upstreams.length
      ? new Forwarder({
          upstreams: options.upstreams,
          ...(options.forwardTimeoutMs === undefined ? {} : { timeoutMs: options.forwardTimeoutMs }),
        })
      : undefined;
    this.forwarder = forwarder;
    this.handler = new DnsHandler({
      config: options.config,
      recursionAllowed: options.recursionAllowed,
      logger: this.log,
      ...(forwarder ? { forwarder } : {}),
    });
  }

  /**
   * Binds the sockets (SERVFAIL for cluster names until the first snapshot)
   * and follows the source until the signal aborts; resolves once the first
   * snapshot is served, by the worker threads too.
   */
  async start(signal: AbortSignal): Promise<void> {
    const group = this.workerCount();
    this.servers = this.options.listen.map(
      (listen) => new DnsServer({ handler: this.handler, listen, logger: this.log, ...(group ? { udpGroup: group } : {}) }),
    );
    const threads = this.options.udpThreads;
    if (threads && group)
      this.workers = new DnsWorkers({ config: this.options.config, recursion: threads.recursion }, this.forwarder, this.log);
    for (const server of this.servers) await server.start(signal);
    this.startWorkers(signal);
    let served!: () => void;
    const first = new Promise<void>((resolve) => {
      served = resolve;
    });
    const unsubscribe = this.options.source.subscribe((snap, changed) => {
      this.handler.update(snap, changed);
      this.workers?.update(snap, changed);
      served();
    });
    signal.addEventListener(
      'abort',
      () => {
        unsubscribe();
        served();
      },
      { once: true },
    );
    await first;
    await this.workers?.synced();
  }

  /** How many worker threads answer UDP: none when asked for none, or when the batched path cannot run here. */
  private workerCount(): number {
    const threads = this.options.udpThreads;
    if (!threads || threads.count === 0) return 0;
    try {
      probeBatchedUdp();
      return threads.count;
    } catch (err) {
      if (!isKeelError(err, 'KEEL_NATIVE_UNAVAILABLE')) throw err;
      this.log.warn('dns worker threads unavailable; answering UDP on the agent thread, as --dns-workers 0', { error: err.message });
      return 0;
    }
  }

  private startWorkers(signal: AbortSignal): void {
    const workers = this.workers;
    if (!workers) return;
    const count = this.options.udpThreads?.count ?? 0;
    workers.start(Array.from({ length: count }, (_, i) => this.servers.map((s) => s.udpGroupFds()[i] as number)));
    signal.addEventListener('abort', () => workers.stop(), { once: true });
  }

  address(): ListenAddress | undefined {
    return this.servers[0]?.address();
  }

  ready(): boolean {
    return this.handler.hasSynced() && (this.workers?.isSynced() ?? true);
  }

  /** Serving is continuous: healthy now whenever synced and bound (the watch reports its own staleness). */
  lastSuccess(): number | undefined {
    return this.ready() && this.servers.every((s) => s.address()) ? Date.now() : undefined;
  }

  periodMs(): number {
    return 60_000;
  }
}
