import { KeelError } from '../api/errors.js';
import { createLogger, type Logger } from '../observe/log.js';
import type { KvStore } from '../store/kv-store.js';
import { Backoff, sleep, type BackoffOptions } from '../runtime/backoff.js';
import { InformerCache, type Decode, type InformerEvent } from './informer-cache.js';
import type { WatchChange } from '../store/watch-stream.js';
import { watchMetrics } from './watch-metrics.js';
import { RelistPacer } from './relist-pacer.js';
import type { Clock } from '../runtime/clock.js';

export type { InformerEvent } from './informer-cache.js';

export interface InformerOptions<T> {
  store: KvStore;
  /** Key prefix to list and watch, e.g. `/registry/services/specs/`. */
  prefix: string;
  /** Metric and log label, e.g. `services`. */
  resource: string;
  /** Throws (a KeelError) on an invalid value; receives the mod revision for resourceVersion. */
  decode: Decode<T>;
  pageSize?: number;
  logger?: Logger;
  /** Reconnect delays; defaults 100 ms doubling up to 10 s. */
  backoff?: BackoffOptions;
  /** Idle-stream liveness probe period (default 10 s). */
  probeIntervalMs?: number;
  /**
   * A relist forced by compaction (or a replaced etcd) first waits a random
   * delay below this, so nodes whose watches broke together spread their
   * lists (default DEFAULT_RELIST_JITTER_MS; 0 relists at once).
   */
  relistJitterMs?: number;
  /**
   * A relist reads at the newest multiple of this revision at or below the
   * current one (KvStore.list's ListPin): nodes relisting during a stream of
   * writes then ask for the same pages, which a grpc-proxy answers from its
   * cache; the watch replays what was written since (default
   * DEFAULT_LIST_PIN_EVERY; 0 relists at the current revision). The first
   * listing is always at the current revision: a synced informer holds at
   * least what etcd held when it started, while a relist at the pinned
   * revision is still newer than the cache it replaces.
   */
  pinEvery?: number;
  /** Times the relist jitter; tests pass a fake one. */
  clock?: Clock;
}

/** Spreads 1,000 nodes' relists to about one per 5 ms (the fleet bench, docs/scale.md). */
export const DEFAULT_RELIST_JITTER_MS = 5_000;

/**
 * 100 revisions: 5 s of a cluster writing 20 times a second, a window in
 * which relisting nodes share pages; each lists at most 99 revisions old and
 * its watch replays them. Measured in docs/scale.md ("Listings from the
 * proxy's cache").
 */
const DEFAULT_LIST_PIN_EVERY = 100;

export interface InformerStats {
  relists: number;
  reconnects: number;
  invalid: number;
}

/**
 * A list+watch cache of one prefix. Lists in pages at one revision, then
 * watches from that revision + 1; after a dropped stream it resumes from
 * the last revision it applied, and when etcd has compacted that revision
 * away it relists and emits only the difference, so subscribers converge
 * without ever seeing a gap. The cache keeps serving while disconnected.
 */
export class Informer<T> {
  private readonly cache: InformerCache<T>;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly pacer: RelistPacer;
  private readonly handlers = new Set<(ev: InformerEvent<T>) => void>();
  private readonly relistHandlers = new Set<() => void>();
  private rev = 0;
  /** etcd's compaction revision as the last compacted watch reported it: no listing pins below it. */
  private compacted = 0;
  private synced = false;
  private connected = false;
  private everConnected = false;
  private started = false;
  /** Consecutive failed attempts; the first of a streak is logged as a warning, the rest at debug. */
  private failures = 0;
  /** The etcd cluster the cache came from, as the first watch reported it. */
  private clusterId: string | undefined;
  /** The next list must decode everything and may move the revision back. */
  private rewound = false;
  private readonly counts: InformerStats = { relists: 0, reconnects: 0, invalid: 0 };

  constructor(private readonly options: InformerOptions<T>) {
    this.log = options.logger ?? createLogger(`watch/${options.resource}`);
    this.backoff = new Backoff(options.backoff);
    this.pacer = new RelistPacer({
      maxMs: options.relistJitterMs ?? DEFAULT_RELIST_JITTER_MS,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    this.cache = new InformerCache(options.decode, (key, modRevision, err) => {
      this.counts.invalid++;
      watchMetrics.invalid.inc({ resource: options.resource });
      this.log.warn('skipping invalid object', { key, revision: modRevision, reason: reasonOf(key, err) });
    });
  }

  /** Resolves once the first listing is in the cache (or the signal aborted first); keeps watching until the signal aborts. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.started) throw new KeelError('KEEL_CONFIG', 'informer already started', { subject: `watch ${this.options.prefix}` });
    this.started = true;
    if (signal.aborted) return;
    let resolveSynced!: () => void;
    const synced = new Promise<void>((resolve) => {
      resolveSynced = resolve;
    });
    signal.addEventListener('abort', () => resolveSynced(), { once: true });
    void this.run(signal, resolveSynced);
    await synced;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  isConnected(): boolean {
    return this.connected;
  }

  items(): ReadonlyMap<string, T> {
    return this.cache.objects;
  }

  /** The etcd revision the cache reflects. */
  revision(): number {
    return this.rev;
  }

  stats(): Readonly<InformerStats> {
    return { ...this.counts };
  }

  /** Per-key changes, in etcd order; handlers run synchronously and must not throw (errors are logged). */
  subscribe(handler: (ev: InformerEvent<T>) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Called after a relist has been applied (its differences were already emitted as events). */
  onRelist(handler: () => void): () => void {
    this.relistHandlers.add(handler);
    return () => this.relistHandlers.delete(handler);
  }

  private async run(signal: AbortSignal, onSynced: () => void): Promise<void> {
    const { store, prefix } = this.options;
    let needList = true;
    /** Set when every watcher of this etcd may be relisting at the same moment. */
    let herd = false;
    while (!signal.aborted) {
      try {
        if (herd) {
          herd = false;
          const ms = await this.pacer.wait(signal);
          if (ms > 0) this.log.debug('relist delayed to spread the fleet', { ms });
          if (signal.aborted) break;
        }
        if (needList) {
          await this.list();
          needList = false;
          onSynced();
        } else {
          // Resuming from an older revision: ask etcd first whether it still
          // holds it. A watch from a compacted revision sent through etcd's
          // grpc-proxy leaves the proxy's shared upstream watch of this
          // prefix dead yet still accepting other watchers, which then never
          // hear another event (docs/scale.md): only a range may hear "compacted".
          const history = await store.historyAt(prefix, this.rev);
          if (history === 'ahead') throw new StoreRewoundError(prefix, this.rev);
          if (history === 'compacted') {
            this.log.info('resume revision was compacted; relisting', { revision: this.rev });
            needList = true;
            herd = true;
            continue;
          }
        }
        const end = await store.watch(
          prefix,
          this.rev + 1,
          {
            onCreated: (head, clusterId) => this.onCreated(head, clusterId),
            onChanges: (changes, head) => this.onChanges(changes, head),
            onProgress: (revision) => this.advance(revision, 0),
          },
          signal,
          this.options.probeIntervalMs === undefined ? {} : { probeIntervalMs: this.options.probeIntervalMs },
        );
        if (end.reason === 'aborted') break;
        this.compacted = Math.max(this.compacted, end.compactRevision);
        this.log.info('watched revision was compacted; relisting', { from: this.rev + 1, compacted: end.compactRevision });
        needList = true;
        herd = true;
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof StoreRewoundError) {
          this.log.warn(err.message, { prefix });
          this.rewound = true;
          needList = true;
          herd = true;
          continue;
        }
        this.setConnected(false);
        const fields = { prefix, revision: this.rev, error: err instanceof Error ? err.message : String(err) };
        if (this.failures === 0) this.log.warn('etcd list/watch failed; serving the cached objects and retrying', fields);
        else this.log.debug('etcd still unreachable', fields);
        this.failures++;
        await sleep(this.backoff.next(), signal);
      }
    }
    this.setConnected(false);
  }

  private async list(): Promise<void> {
    // Never below what the cache already holds: the watch resumes after the listing, from this.rev + 1 at the lowest.
    const every = this.synced ? (this.options.pinEvery ?? DEFAULT_LIST_PIN_EVERY) : 0;
    const pin = { every, atLeast: Math.max(this.rev + 1, this.compacted) };
    const { entries, revision } = await this.options.store.list(this.options.prefix, this.options.pageSize, pin);
    const rewound = this.rewound;
    this.rewound = false;
    const events = this.cache.replace(entries, !rewound);
    const relist = this.synced;
    this.synced = true;
    if (rewound) this.rev = revision;
    this.advance(revision, 0);
    this.emit(events);
    if (relist) {
      this.counts.relists++;
      watchMetrics.relists.inc({ resource: this.options.resource });
      this.log.info('relisted', { revision, objects: this.cache.objects.size, changes: events.length });
      for (const h of this.relistHandlers) this.safely(() => h());
    }
  }

  private onCreated(head: number, clusterId: string): void {
    // A new etcd (or one restored from a backup) at the same address: its
    // revisions say nothing about ours, so resuming could skip changes.
    // A grpc-proxy answers for a watch it joins to one it already holds
    // with cluster id 0: that names no etcd, so it is not a replacement.
    const id = clusterId === '0' ? this.clusterId : clusterId;
    const replaced = head < this.rev || (this.clusterId !== undefined && id !== this.clusterId);
    this.clusterId = id;
    if (replaced) throw new StoreRewoundError(this.options.prefix, this.rev, head);
    if (this.everConnected && !this.connected) {
      this.counts.reconnects++;
      watchMetrics.reconnects.inc({ resource: this.options.resource });
      this.log.info('etcd watch re-established', { revision: this.rev, attempts: this.failures });
    }
    this.failures = 0;
    this.everConnected = true;
    this.setConnected(true);
    this.backoff.reset();
  }

  private onChanges(changes: readonly WatchChange[], head: number): void {
    const floor = this.rev;
    const events: InformerEvent<T>[] = [];
    let last = floor;
    for (const change of changes) {
      if (change.modRevision <= floor) continue;
      last = change.modRevision;
      const ev = this.cache.apply(change);
      if (ev) events.push(ev);
    }
    this.advance(last, head - last);
    this.emit(events);
  }

  private advance(revision: number, lag: number): void {
    if (revision > this.rev) this.rev = revision;
    watchMetrics.lastSyncRevision.set({ resource: this.options.resource }, this.rev);
    watchMetrics.lagRevisions.set({ resource: this.options.resource }, Math.max(0, lag));
  }

  private emit(events: readonly InformerEvent<T>[]): void {
    const resource = this.options.resource;
    for (const ev of events) {
      watchMetrics.events.inc({ resource, type: ev.type });
      for (const h of this.handlers) this.safely(() => h(ev));
    }
  }

  private setConnected(connected: boolean): void {
    this.connected = connected;
    watchMetrics.connected.set({ resource: this.options.resource }, connected ? 1 : 0);
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error('subscriber failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** etcd's history was replaced under the informer (new cluster id, or a revision below one already seen). */
class StoreRewoundError extends KeelError {
  override name = 'StoreRewoundError' as const;
  constructor(prefix: string, seen: number, head?: number) {
    const now = head === undefined ? `has not reached revision ${seen}` : `now at revision ${head}, cache at ${seen}`;
    super('KEEL_ETCD_UNAVAILABLE', `etcd was replaced (${now}); relisting everything`, {
      subject: `watch ${prefix}`,
    });
  }
}

/** The error's message without its subject when the subject is just the key already logged. */
function reasonOf(key: string, err: unknown): string {
  if (err instanceof KeelError && err.subject === key) return err.message.slice(key.length + 2);
  return err instanceof Error ? err.message : String(err);
}
