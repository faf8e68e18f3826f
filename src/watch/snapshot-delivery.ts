import type { ClusterSnapshot, NamespacedName } from '../api/cluster-state.js';
import type { ApiObject } from '../api/object.js';
import type { Logger } from '../observe/log.js';
import { Backoff } from '../runtime/backoff.js';
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
 */
export class SnapshotDelivery {
  private readonly trackers: Record<SnapshotKind, ChangeTracker<NamespacedName, ApiObject>> = {
    services: new ChangeTracker(sameContent),
    endpoints: new ChangeTracker(sameContent),
    pods: new ChangeTracker(sameContent),
  };
  private full = true;
  private busy = false;
  private closed = false;
  /** Cancels the scheduled delivery, if one is scheduled. */
  private timer: (() => void) | undefined;
  private notBefore = 0;
  /** When the oldest change not yet delivered arrived (performance.now()). */
  private pendingSince: number | undefined;
  private readonly retry = new Backoff({ initialMs: 500, maxMs: 30_000 });

  constructor(
    private readonly consumer: SnapshotConsumer,
    private readonly source: SnapshotSource,
    private readonly minDelayMs: number,
    private readonly log: Logger,
  ) {}

  record(kind: SnapshotKind, key: NamespacedName, previous: ApiObject | undefined, current: ApiObject | undefined): void {
    this.trackers[kind].record(key, previous, current);
    this.pendingSince ??= performance.now();
    this.kick();
  }

  markFull(): void {
    this.full = true;
    this.kick();
  }

  /** Schedules a delivery if there is something to deliver and nothing stops it. */
  kick(): void {
    if (this.busy || this.timer || this.closed || !this.source.hasSynced() || !this.pending()) return;
    const run = (): void => {
      this.timer = undefined;
      void this.deliver();
    };
    const wait = this.notBefore - Date.now();
    // setImmediate still batches everything one watch response carries, without setTimeout's 1 ms floor.
    const handle = wait > 0 ? setTimeout(run, wait) : setImmediate(run);
    this.timer = () => (wait > 0 ? clearTimeout(handle as NodeJS.Timeout) : clearImmediate(handle as NodeJS.Immediate));
  }

  close(): void {
    this.closed = true;
    this.timer?.();
    this.timer = undefined;
  }

  private pending(): boolean {
    return this.full || this.trackers.services.size > 0 || this.trackers.endpoints.size > 0 || this.trackers.pods.size > 0;
  }

  private async deliver(): Promise<void> {
    // Changes that cancelled out after the delivery was scheduled leave nothing to say.
    if (this.closed || !this.pending()) return;
    this.busy = true;
    const started = Date.now();
    const changed: ChangedKeys = {
      services: new Set(this.trackers.services.drain().keys()),
      endpoints: new Set(this.trackers.endpoints.drain().keys()),
      pods: new Set(this.trackers.pods.drain().keys()),
      full: this.full,
    };
    this.full = false;
    if (this.pendingSince !== undefined) watchMetrics.deliveryDelay.observe((performance.now() - this.pendingSince) / 1_000);
    this.pendingSince = undefined;
    try {
      await this.consumer(this.source.current(), changed);
      this.retry.reset();
      this.notBefore = started + this.minDelayMs;
    } catch (err) {
      const delay = this.retry.next();
      this.log.error('snapshot consumer failed; next delivery is a full one', {
        error: err instanceof Error ? err.message : String(err),
        retryInMs: delay,
      });
      this.full = true;
      this.notBefore = Date.now() + Math.max(delay, this.minDelayMs);
    } finally {
      this.busy = false;
    }
    this.kick();
  }
}

/** Equal apart from resourceVersion: a write that changed nothing is not a change. */
export function sameContent(a: ApiObject, b: ApiObject): boolean {
  return a === b || contentJson(a) === contentJson(b);
}

function contentJson(o: ApiObject): string {
  return JSON.stringify(o, (k, v: unknown) => (k === 'resourceVersion' ? undefined : v));
}
