import type { ClusterSnapshot, NamespacedName } from '../api/cluster-state.js';
import type { Conntrack } from '../kernel/conntrack/conntrack.js';
import type { NftablesPort } from '../kernel/nftables/nft-runner.js';
import { createLogger, type Logger } from '../observe/log.js';
import type { NodeConfig, ServicePortInfo } from '../proxy-iptables/compile.js';
import { lastSync, programmingDuration, restoreFailures, syncDuration, syncsTotal, canaryLost } from '../proxy-iptables/metrics.js';
import { staleUdpFlows } from '../proxy-iptables/stale-udp-flows.js';
import { FULL_SYNC_PERIOD_MS } from '../proxy-iptables/sync-loop.js';
import { Backoff } from '../runtime/backoff.js';
import { BoundedFrequencyRunner } from '../runtime/bounded-frequency-runner.js';
import { realClock, type Clock } from '../runtime/clock.js';
import { ServiceViews } from '../service-view/service-views.js';
import type { ChangedKeys } from '../watch/cluster-watch.js';
import { changeScript } from './change-script.js';
import { assembleTable } from './compile.js';
import { compileNftService } from './compile-service.js';
import { CHAINS, MAPS, TABLE, type NftFamily } from './nft-names.js';
import type { NftServiceRules, NftTable } from './nft-table.js';
import { renderFullSync } from './render-table.js';

export interface NftSyncLoopOptions {
  port: NftablesPort;
  node: NodeConfig;
  family?: NftFamily;
  conntrack?: Conntrack;
  /** Periodic check that the table is still keel's (default 30 s). */
  syncPeriodMs?: number;
  /** Least time between two full syncs that replace the table, default one hour. */
  fullSyncPeriodMs?: number;
  minSyncPeriodMs?: number;
  logger?: Logger;
  clock?: Clock;
}

export interface NftSyncResult {
  readonly kind: 'full' | 'partial' | 'none';
  readonly chains: number;
  readonly elements: number;
  readonly bytes: number;
}

/**
 * Keeps keel's nftables table equal to the compiled rules. A full sync
 * (first, hourly, after any failure, and when the periodic check finds
 * the `services` chain gone or emptied) replaces the table in one `nft -f`
 * transaction; a partial sync recompiles only the changed services and
 * sends only their chains and elements.
 */
export class NftSyncLoop {
  private readonly port: NftablesPort;
  private readonly node: NodeConfig;
  private readonly family: NftFamily;
  private readonly conntrack: Conntrack | undefined;
  private readonly period: number;
  private readonly fullPeriod: number;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly loop: BoundedFrequencyRunner;
  private readonly views: ServiceViews;
  private snapshot: ClusterSnapshot | undefined;
  private dirty = new Set<NamespacedName>();
  private fullRequested = true;
  private fragments = new Map<NamespacedName, NftServiceRules>();
  private lastFullAt = Number.NEGATIVE_INFINITY;
  private lastSyncAt = Number.NEGATIVE_INFINITY;
  private lastCheckAt = Number.NEGATIVE_INFINITY;
  private pendingSince: number | undefined;

  constructor(opts: NftSyncLoopOptions) {
    this.port = opts.port;
    this.node = opts.node;
    this.family = opts.family ?? 'ip';
    this.conntrack = opts.conntrack;
    this.period = opts.syncPeriodMs ?? 30_000;
    this.fullPeriod = opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS;
    this.log = opts.logger ?? createLogger('proxy-nftables');
    this.clock = opts.clock ?? realClock;
    this.loop = new BoundedFrequencyRunner({
      fn: async () => {
        await this.sync();
      },
      minIntervalMs: opts.minSyncPeriodMs ?? 0,
      maxIntervalMs: Math.min(this.period, this.fullPeriod),
      backoff: new Backoff({ initialMs: 1_000, maxMs: this.period, jitter: false }),
      ready: () => this.snapshot !== undefined,
      clock: this.clock,
    });
    this.views = new ServiceViews({ nodeName: opts.node.nodeName, logger: this.log });
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

  /** The table as last compiled. */
  table(): NftTable {
    return assembleTable(this.ordered(), this.node, this.family);
  }

  lastSuccess(): number | undefined {
    return Number.isFinite(this.lastSyncAt) ? this.lastSyncAt : undefined;
  }

  /** Syncs until the signal aborts; resolves after the first successful sync. */
  start(signal: AbortSignal): Promise<void> {
    return this.loop.start(signal);
  }

  async sync(): Promise<NftSyncResult> {
    const snap = this.snapshot;
    if (!snap) return { kind: 'none', chains: 0, elements: 0, bytes: 0 };
    const started = this.clock.now();
    let full = this.fullRequested || started - this.lastFullAt >= this.fullPeriod;
    const checked = !full && started - this.lastCheckAt >= this.period;
    if (checked && !(await this.tablePresent())) {
      canaryLost.inc();
      this.log.warn(`the ${TABLE} table's ${CHAINS.services} chain is gone or flushed: someone else changed it; resyncing fully`);
      full = true;
    }
    const keys = full ? new Set([...snap.services.keys(), ...this.fragments.keys()]) : this.dirty;
    this.dirty = new Set();
    const since = this.pendingSince;
    this.pendingSince = undefined;
    this.views.apply(snap, { services: keys, endpoints: new Set(), pods: new Set(), full });
    const changes = [...keys].map((key) => {
      const before = this.fragments.get(key);
      const view = this.views.get(key);
      const after = view ? compileNftService(view, this.node) : undefined;
      if (after) this.fragments.set(key, after);
      else this.fragments.delete(key);
      return { before, after };
    });
    try {
      const partial = full ? undefined : changeScript(changes, this.family, TABLE);
      const text = partial ? partial.text : renderFullSync(this.table());
      if (text) await this.port.run(text);
      this.fullRequested = false;
      const end = this.clock.now();
      if (!partial) this.lastFullAt = end;
      if (!partial || checked) this.lastCheckAt = end;
      this.lastSyncAt = end;
      const kind = partial ? 'partial' : 'full';
      syncsTotal.inc({ kind });
      syncDuration.observe({ kind }, (end - started) / 1000);
      if (since !== undefined) programmingDuration.observe((end - since) / 1000);
      lastSync.set(end / 1000);
      const result = {
        kind,
        chains: partial ? partial.chainsWritten + partial.chainsDeleted : 0,
        elements: partial?.elements ?? 0,
        bytes: text.length,
      } as const;
      this.log.debug('synced', { ...result, ms: end - started });
      await this.flushConntrack(changes);
      return result;
    } catch (err) {
      // The kernel kept its previous rules (one transaction); the next attempt replaces the table.
      this.fullRequested = true;
      this.pendingSince = since;
      restoreFailures.inc();
      this.log.error(`sync failed: ${err instanceof Error ? err.message : String(err)}`, { kind: full ? 'full' : 'partial' });
      throw err;
    }
  }

  private ordered(): NftServiceRules[] {
    return [...this.fragments.keys()].sort().map((k) => this.fragments.get(k) as NftServiceRules);
  }

  /** The dispatch chain still holds its first rule; any doubt says no. */
  private async tablePresent(): Promise<boolean> {
    const text = await this.port.listChain(this.family, TABLE, CHAINS.services).catch(() => undefined);
    return text?.includes(`vmap @${MAPS.serviceIPs}`) ?? false;
  }

  private async flushConntrack(
    changes: readonly { before: NftServiceRules | undefined; after: NftServiceRules | undefined }[],
  ): Promise<void> {
    if (!this.conntrack) return;
    const old: ServicePortInfo[] = changes.flatMap((c) => c.before?.ports ?? []);
    const cur: ServicePortInfo[] = changes.flatMap((c) => c.after?.ports ?? []);
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
