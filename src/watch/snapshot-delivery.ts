import type { ClusterSnapshot, NamespacedName } from '../api/cluster-state.js';
import type { ApiObject } from '../api/object.js';
import type { EndpointSlice } from '../api/endpoint-slice.js';
import type { Logger } from '../observe/log.js';
import { Backoff } from '../runtime/backoff.js';
import { BoundedFrequencyRunner } from '../runtime/bounded-frequency-runner.js';
import { realClock, type Clock } from '../runtime/clock.js';
import { ChangeTracker } from './change-tracker.js';
import { watchMetrics } from './watch-metrics.js';

export interface ChangedKeys {
  services: ReadonlySet<NamespacedName>;
  endpoints: ReadonlySet<NamespacedName>;
  pods: ReadonlySet<NamespacedName>;
  /** True on the first delivery, after a relist and after the consumer failed: compare everything. */
  full: boolean;
}

export type SnapshotConsumer = (snapshot: ClusterSnapshot, changed: ChangedKeys) => Promise<void> | void;

export type SnapshotKind = 'services' | 'endpoints' | 'pods';

/** What a key holds: an object, or (a service's endpoints from EndpointSlices) the service's slices. */
type Tracked = ApiObject | readonly EndpointSlice[];

export interface SnapshotSource {
  current(): ClusterSnapshot;
  hasSynced(): boolean;
}

/**
 * Feeds one consumer at its own pace: changes that arrive while it is
 * busy (or within `minDelayMs` of its last start) pile up in change
 * trackers and reach it as one snapshot with the union of changed keys.
 * A consumer that throws gets the next snapshot marked full, after a
 * backoff, so a failed sync is always followed by a complete one.
 * Nothing is delivered before the source has listed once.
 */
export class SnapshotDelivery {
  private readonly trackers: Record<SnapshotKind, ChangeTracker<NamespacedName, Tracked>> = {
    services: new ChangeTracker(sameContent),
    endpoints: new ChangeTracker(sameContent),
    pods: new ChangeTracker(sameContent),
  };
  private full = true;
  private readonly closing = new AbortController();
  /** When the oldest change not yet delivered arrived. */
  private pendingSince: number | undefined;
  private readonly runner: BoundedFrequencyRunner;

  constructor(
    private readonly consumer: SnapshotConsumer,
    private readonly source: SnapshotSource,
    minDelayMs: number,
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
  ) {
    this.runner = new BoundedFrequencyRunner({
      fn: () => this.deliver(),
      minIntervalMs: minDelayMs,
      backoff: new Backoff({ initialMs: 500, maxMs: 30_000 }),
      ready: () => source.hasSynced(),
      clock,
      onError: (err, retryInMs) => {
        this.full = true;
        this.log.error('snapshot consumer failed; next delivery is a full one', {
          error: err instanceof Error ? err.message : String(err),
          retryInMs,
        });
      },
    });
  }

  /** Delivers until the signal aborts or `close()`; resolves after the first delivery. */
  start(signal: AbortSignal): Promise<void> {
    if (signal.aborted) this.close();
    else signal.addEventListener('abort', () => this.close(), { once: true });
    const started = this.runner.start(this.closing.signal);
    this.kick();
    return started;
  }

  record(kind: SnapshotKind, key: NamespacedName, previous: Tracked | undefined, current: Tracked | undefined): void {
    this.trackers[kind].record(key, previous, current);
    this.pendingSince ??= this.clock.now();
    this.kick();
  }

  markFull(): void {
    this.full = true;
    this.kick();
  }

  /** Asks for a delivery if there is something to deliver (the runner waits for the source to sync). */
  kick(): void {
    if (this.pending()) this.runner.run();
  }

  close(): void {
    this.closing.abort();
  }

  private pending(): boolean {
    return this.full || this.trackers.services.size > 0 || this.trackers.endpoints.size > 0 || this.trackers.pods.size > 0;
  }

  private async deliver(): Promise<void> {
    // Changes that cancelled out after the delivery was asked for leave nothing to say.
    if (!this.pending()) return;
    const changed: ChangedKeys = {
      services: new Set(this.trackers.services.drain().keys()),
      endpoints: new Set(this.trackers.endpoints.drain().keys()),
      pods: new Set(this.trackers.pods.drain().keys()),
      full: this.full,
    };
    this.full = false;
    if (this.pendingSince !== undefined) watchMetrics.deliveryDelay.observe((this.clock.now() - this.pendingSince) / 1_000);
    this.pendingSince = undefined;
    await this.consumer(this.source.current(), changed);
  }
}

/** Equal apart from resourceVersion: a write that changed nothing is not a change. */
function sameContent(a: Tracked, b: Tracked): boolean {
  return a === b || contentJson(a) === contentJson(b);
}

function contentJson(o: Tracked): string {
  return JSON.stringify(o, (k, v: unknown) => (k === 'resourceVersion' ? undefined : v));
}
