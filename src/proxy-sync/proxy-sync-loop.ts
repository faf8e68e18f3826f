import type { ClusterSnapshot, NamespacedName } from '../api/cluster-state.js';
import type { Conntrack } from '../kernel/conntrack/conntrack.js';
import type { Fields, Logger } from '../observe/log.js';
import { Backoff } from '../runtime/backoff.js';
import { BoundedFrequencyRunner } from '../runtime/bounded-frequency-runner.js';
import { realClock, type Clock } from '../runtime/clock.js';
import type { ServiceView } from '../service-view/service-view.js';
import { ServiceViews } from '../service-view/service-views.js';
import type { ChangedKeys } from '../watch/cluster-watch.js';
import type { NodeConfig, ServicePortInfo } from '../proxy-iptables/compile.js';
import { staleUdpFlows } from './stale-udp-flows.js';
import { canaryLost, lastSync, programmingDuration, restoreFailures, syncDuration, syncsTotal } from './sync-metrics.js';

/** kube-proxy's FullSyncPeriod: at 10k services one iptables-save of nat alone costs seconds of CPU. */
export const FULL_SYNC_PERIOD_MS = 3_600_000;

export interface ProxySyncLoopOptions {
  node: NodeConfig;
  /**
   * --nodeport-addresses resolved against the node's addresses as they are
   * now. kube-proxy reads them on every sync, so an address added after the
   * start gets NodePorts by the next periodic sync; a change makes that sync full.
   */
  nodePortAddresses?: () => readonly string[] | undefined;
  conntrack?: Conntrack;
  /** Periodic sync (--iptables-sync-period), default 30 s: checks that keel's rules are still there, reads no whole table. */
  syncPeriodMs?: number;
  /** Least time between two full syncs, default one hour (kube-proxy's FullSyncPeriod). */
  fullSyncPeriodMs?: number;
  /** Least time between two syncs (--iptables-min-sync-period), default 0. */
  minSyncPeriodMs?: number;
  logger?: Logger;
  clock?: Clock;
}

/** Where NodePorts answer, as the log shows it (and as two lists compare). */
function shownAddresses(list: readonly string[] | undefined): string {
  return list ? list.join(',') || 'none' : 'every local address';
}

/** One service's compiled share of a mode's rules, with the ports conntrack cleanup compares. */
interface Fragment {
  readonly ports: readonly ServicePortInfo[];
}

/** One changed service: its fragment before and after this sync (undefined: it has none). */
export interface FragmentChange<F> {
  readonly key: NamespacedName;
  readonly before: F | undefined;
  readonly after: F | undefined;
}

interface SyncOutcome {
  readonly kind: 'full' | 'partial' | 'none';
}

/**
 * The proxy modes' common sync loop (kube-proxy's proxier skeleton):
 * handlers only record what changed; `sync()` recompiles the changed
 * services (every service on a full sync: first, hourly, after any
 * failure, or when the periodic check finds keel's rules gone) and hands
 * the before/after fragments to the mode's `apply`. One bounded-frequency
 * runner calls `sync()`: no faster than the min period, every period, and
 * after a failure again after a backoff (1 s doubling up to the period).
 * It keeps the sync metrics and cleans up conntrack entries of UDP flows
 * whose endpoint went away. A mode supplies compile, apply and the check.
 */
export abstract class ProxySyncLoop<F extends Fragment, R extends SyncOutcome> {
  protected node: NodeConfig;
  private readonly nodePortAddresses: (() => readonly string[] | undefined) | undefined;
  protected readonly log: Logger;
  protected readonly fragments = new Map<NamespacedName, F>();
  private readonly conntrack: Conntrack | undefined;
  private readonly period: number;
  private readonly fullPeriod: number;
  private readonly clock: Clock;
  private readonly loop: BoundedFrequencyRunner;
  private readonly views: ServiceViews;
  private snapshot: ClusterSnapshot | undefined;
  private dirty = new Set<NamespacedName>();
  private fullRequested = true;
  private lastFullAt = Number.NEGATIVE_INFINITY;
  private lastSyncAt = Number.NEGATIVE_INFINITY;
  private lastCheckAt = Number.NEGATIVE_INFINITY;
  private pendingSince: number | undefined;

  constructor(opts: ProxySyncLoopOptions, logger: Logger) {
    this.node = opts.node;
    this.nodePortAddresses = opts.nodePortAddresses;
    this.conntrack = opts.conntrack;
    this.period = opts.syncPeriodMs ?? 30_000;
    this.fullPeriod = opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS;
    this.log = opts.logger ?? logger;
    this.clock = opts.clock ?? realClock;
    this.loop = new BoundedFrequencyRunner({
      fn: async () => {
        await this.sync();
      },
      minIntervalMs: opts.minSyncPeriodMs ?? 0,
      // The periodic sync decides for itself whether the check or the hourly full sync is due.
      maxIntervalMs: Math.min(this.period, this.fullPeriod),
      backoff: new Backoff({ initialMs: 1_000, maxMs: this.period, jitter: false }),
      ready: () => this.snapshot !== undefined,
      clock: this.clock,
    });
    this.views = new ServiceViews({ nodeName: opts.node.nodeName, logger: this.log });
  }

  /** One service's fragment (a service the view drops has none). */
  protected abstract compile(view: ServiceView): F;
  /** Programs the kernel: every service's fragment when `full`, else only the changed ones. */
  protected abstract apply(full: boolean, changes: readonly FragmentChange<F>[]): Promise<R>;
  /** The periodic check: keel's rules are still in the kernel (any doubt says no). */
  protected abstract intact(): Promise<boolean>;
  /** What the periodic check found missing, for the log. */
  protected abstract readonly lostMessage: string;
  /** The result of a sync before the first snapshot. */
  protected abstract readonly idle: R;
  /** Extra log fields for a failed sync (a restore's failing line). */
  protected failureFields(_err: unknown): Fields {
    return {};
  }

  /** A ClusterWatch consumer: records the change and wakes the loop; never syncs itself. */
  readonly update = (snap: ClusterSnapshot, changed: ChangedKeys): void => {
    this.snapshot = snap;
    for (const k of changed.services) this.dirty.add(k);
    for (const k of changed.endpoints) this.dirty.add(k);
    if (changed.full) this.fullRequested = true;
    this.pendingSince ??= this.clock.now();
    this.loop.run();
  };

  /** When rules were last synced successfully (ms since epoch); for /healthz. */
  lastSuccess(): number | undefined {
    return Number.isFinite(this.lastSyncAt) ? this.lastSyncAt : undefined;
  }

  /** Syncs until the signal aborts; resolves after the first successful sync. */
  start(signal: AbortSignal): Promise<void> {
    return this.loop.start(signal);
  }

  /** Every service's fragment in key order. */
  protected ordered(): F[] {
    return [...this.fragments.keys()].sort().map((k) => this.fragments.get(k) as F);
  }

  async sync(): Promise<R> {
    if (!this.snapshot) return this.idle;
    const started = this.clock.now();
    let full = this.followNodePortAddresses() || this.fullRequested || started - this.lastFullAt >= this.fullPeriod;
    const due = !full && started - this.lastCheckAt >= this.period;
    // Changes waiting go to the kernel first and the due check follows them: in iptables mode it is two
    // iptables processes (~35 ms of CPU at 1k services), which would otherwise delay those changes by as much.
    const checkFirst = due && this.dirty.size === 0;
    if (checkFirst && !(await this.intact())) {
      this.lost();
      full = true;
    }
    // The snapshot and the keys it changed are taken together, after the check: an update delivered
    // while the check awaited the kernel brings keys that only its newer snapshot holds, and
    // projecting them from an older one would drop those services until the next full sync.
    const snap = this.snapshot;
    const keys = full ? new Set([...snap.services.keys(), ...this.fragments.keys()]) : this.dirty;
    this.dirty = new Set();
    const since = this.pendingSince;
    this.pendingSince = undefined;
    this.views.apply(snap, { services: keys, endpoints: new Set(), pods: new Set(), full });
    const changes = [...keys].map((key) => {
      const before = this.fragments.get(key);
      const view = this.views.get(key);
      const after = view ? this.compile(view) : undefined;
      if (after) this.fragments.set(key, after);
      else this.fragments.delete(key);
      return { key, before, after };
    });
    try {
      const result = await this.apply(full, changes);
      this.fullRequested = false;
      const end = this.clock.now();
      if (result.kind === 'full') this.lastFullAt = end;
      if (full || checkFirst) this.lastCheckAt = end;
      this.lastSyncAt = end;
      syncsTotal.inc({ kind: result.kind });
      syncDuration.observe({ kind: result.kind }, (end - started) / 1000);
      if (since !== undefined) programmingDuration.observe((end - since) / 1000);
      lastSync.set(end / 1000);
      // Results are flat records of figures.
      this.log.debug('synced', { ...(result as unknown as Fields), ms: end - started });
      await this.flushConntrack(changes);
      if (due && !checkFirst) await this.checkAfter();
      return result;
    } catch (err) {
      // The kernel kept its previous rules (one transaction); the next attempt is a full sync.
      this.fullRequested = true;
      this.pendingSince = since;
      restoreFailures.inc();
      this.log.error(`sync failed: ${err instanceof Error ? err.message : String(err)}`, {
        kind: full ? 'full' : 'partial',
        ...this.failureFields(err),
      });
      throw err;
    }
  }

  /** Whether the addresses NodePorts answer on moved since the last sync (every service's rules then follow). */
  private followNodePortAddresses(): boolean {
    const now = this.nodePortAddresses?.();
    const was = this.node.nodePortAddresses;
    if (!this.nodePortAddresses || shownAddresses(now) === shownAddresses(was)) return false;
    this.log.info('NodePort addresses changed', { from: shownAddresses(was), to: shownAddresses(now) });
    const { nodePortAddresses: _was, ...rest } = this.node;
    this.node = now ? { ...rest, nodePortAddresses: now } : rest;
    return true;
  }

  /** The check that followed a sync of changes: a failure asks for a full sync at once. */
  private async checkAfter(): Promise<void> {
    const ok = await this.intact();
    this.lastCheckAt = this.clock.now();
    if (ok) return;
    this.lost();
    this.fullRequested = true;
    this.loop.run();
  }

  private lost(): void {
    canaryLost.inc();
    this.log.warn(this.lostMessage);
  }

  private async flushConntrack(changes: readonly FragmentChange<F>[]): Promise<void> {
    if (!this.conntrack) return;
    const old = changes.flatMap((c) => c.before?.ports ?? []);
    const cur = changes.flatMap((c) => c.after?.ports ?? []);
    for (const flow of staleUdpFlows(old, cur)) {
      await this.conntrack.deleteUdp(flow).catch((err: unknown) => {
        this.log.warn(`conntrack cleanup failed: ${err instanceof Error ? err.message : String(err)}`, {
          dst: flow.origDst,
          nat: flow.dstNat,
        });
      });
    }
  }
}
