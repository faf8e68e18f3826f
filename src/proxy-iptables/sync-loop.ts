import type { ClusterSnapshot, NamespacedName } from '../api/cluster-state.js';
import { createLogger, type Logger } from '../observe/log.js';
import { Backoff } from '../runtime/backoff.js';
import { BoundedFrequencyRunner } from '../runtime/bounded-frequency-runner.js';
import { realClock, type Clock } from '../runtime/clock.js';
import type { IptablesRunner } from '../kernel/iptables/restore-runner.js';
import type { ChangedKeys } from '../watch/cluster-watch.js';
import { RestoreError } from '../kernel/iptables/restore-error.js';
import {
  assembleRuleSet,
  keelJumps,
  topChains,
  type NodeConfig,
  type RuleSet,
  type ServicePortInfo,
  type ServiceRules,
} from './compile.js';
import { CANARY_CHAIN, CANARY_RULE } from './chain-names.js';
import { ServiceViews } from '../service-view/service-views.js';
import { compileService } from './compile-service.js';
import type { Conntrack } from '../kernel/conntrack/conntrack.js';
import { staleUdpFlows } from './stale-udp-flows.js';
import {
  canaryLost,
  chainsWritten,
  lastSync,
  programmingDuration,
  restoreFailures,
  rulesTotal,
  syncDuration,
  syncsTotal,
} from './metrics.js';
import { allCandidates, emptyKernelView, kernelViewOf, planSync, type Candidate, type KernelView } from './sync-plan.js';

export interface SyncLoopOptions {
  runner: IptablesRunner;
  node: NodeConfig;
  conntrack?: Conntrack;
  /** Periodic sync (--iptables-sync-period), default 30 s: checks the canary, reads no whole table. */
  syncPeriodMs?: number;
  /** Least time between two full resyncs that read the whole kernel, default one hour (kube-proxy's FullSyncPeriod). */
  fullSyncPeriodMs?: number;
  /** Least time between two syncs (--iptables-min-sync-period), default 0. */
  minSyncPeriodMs?: number;
  logger?: Logger;
  clock?: Clock;
}

export interface SyncResult {
  readonly kind: 'full' | 'partial' | 'none';
  readonly written: number;
  readonly deleted: number;
  readonly bytes: number;
}

/** kube-proxy's FullSyncPeriod: at 10k services one iptables-save of nat alone costs seconds of CPU. */
export const FULL_SYNC_PERIOD_MS = 3_600_000;

/**
 * Keeps the kernel's keel chains equal to the compiled rules. Handlers only
 * record what changed; `sync()` does the work: a partial sync recompiles the
 * changed services and writes only their chains (and top chains that
 * differ); a full resync (first, hourly, after any failure, and when the
 * canary chain is gone) reads the kernel with iptables-save and rewrites
 * only the chains that differ. The periodic sync in between only reads the
 * canary chains, so a flushed table is repaired within one period. One
 * bounded-frequency runner calls `sync()`: no faster than the min period,
 * every period, and after a failure again after a backoff (1 s doubling
 * up to the period).
 */
export class SyncLoop {
  private readonly runner: IptablesRunner;
  private readonly node: NodeConfig;
  private readonly conntrack: Conntrack | undefined;
  private readonly period: number;
  private readonly fullPeriod: number;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly loop: BoundedFrequencyRunner;
  private snapshot: ClusterSnapshot | undefined;
  private dirty = new Set<NamespacedName>();
  private fullRequested = true;
  private fragments = new Map<NamespacedName, ServiceRules>();
  private readonly views: ServiceViews;
  private view: KernelView = emptyKernelView();
  /** Rules keel holds per table, kept by difference so a partial sync never walks every service. */
  private readonly ruleCount: Record<'nat' | 'filter', number>;
  private lastFullAt = Number.NEGATIVE_INFINITY;
  private lastSyncAt = Number.NEGATIVE_INFINITY;
  private lastCheckAt = Number.NEGATIVE_INFINITY;
  private pendingSince: number | undefined;

  constructor(opts: SyncLoopOptions) {
    this.runner = opts.runner;
    this.node = opts.node;
    // keel's fixed rules (postrouting, forwarding, the localnet guard…): the top chains of no service.
    const fixed = topChains([], opts.node);
    this.ruleCount = {
      nat: fixed.nat.reduce((n, c) => n + c.rules.length, 0),
      filter: fixed.filter.reduce((n, c) => n + c.rules.length, 0),
    };
    this.conntrack = opts.conntrack;
    this.period = opts.syncPeriodMs ?? 30_000;
    this.fullPeriod = opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS;
    this.log = opts.logger ?? createLogger('proxy-iptables');
    this.clock = opts.clock ?? realClock;
    this.loop = new BoundedFrequencyRunner({
      fn: async () => {
        await this.sync();
      },
      minIntervalMs: opts.minSyncPeriodMs ?? 0,
      // The periodic sync decides for itself whether the canary check or the hourly full resync is due.
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

  /** The rules as last compiled (for tracing what the loop programs). */
  rules(): RuleSet {
    return assembleRuleSet(
      [...this.fragments.keys()].sort().map((k) => this.fragments.get(k) as ServiceRules),
      this.node,
    );
  }

  /** When rules were last synced successfully (ms since epoch); for /healthz. */
  lastSuccess(): number | undefined {
    return Number.isFinite(this.lastSyncAt) ? this.lastSyncAt : undefined;
  }

  async sync(): Promise<SyncResult> {
    const snap = this.snapshot;
    if (!snap) return { kind: 'none', written: 0, deleted: 0, bytes: 0 };
    const started = this.clock.now();
    let full = this.fullRequested || started - this.lastFullAt >= this.fullPeriod;
    const checked = !full && started - this.lastCheckAt >= this.period;
    if (checked && !(await this.canaryPresent())) {
      canaryLost.inc();
      this.log.warn(`${CANARY_CHAIN} is gone or flushed: someone else rewrote the tables; resyncing fully`);
      full = true;
    }
    const keys = full ? new Set([...snap.services.keys(), ...this.fragments.keys()]) : this.dirty;
    this.dirty = new Set();
    const since = this.pendingSince;
    this.pendingSince = undefined;
    this.views.apply(snap, { services: keys, endpoints: new Set(), pods: new Set(), full });
    const before = new Map<NamespacedName, ServiceRules | undefined>();
    let topChanged = false;
    for (const key of keys) {
      const old = this.fragments.get(key);
      before.set(key, old);
      const view = this.views.get(key);
      const cur = view ? compileService(view, this.node) : undefined;
      if (cur) this.fragments.set(key, cur);
      else this.fragments.delete(key);
      topChanged ||= !sameTopShare(old, cur);
      for (const table of ['nat', 'filter'] as const) this.ruleCount[table] += fragmentRules(cur, table) - fragmentRules(old, table);
    }
    const ordered = (): ServiceRules[] => [...this.fragments.keys()].sort().map((k) => this.fragments.get(k) as ServiceRules);
    try {
      if (full) this.view = kernelViewOf({ nat: await this.runner.save('nat'), filter: await this.runner.save('filter') });
      // A partial sync never assembles every service's chains, and rebuilds the top chains (10k rules at 10k services) only when a changed service's share of them changed.
      const candidates = full
        ? allCandidates(assembleRuleSet(ordered(), this.node), this.view)
        : this.partialCandidates(topChanged ? topChains(ordered(), this.node) : { nat: [], filter: [] }, before);
      const plan = planSync(candidates, keelJumps(), this.view);
      if (plan.text) await this.runner.restore(plan.text, { noflush: true });
      plan.apply(this.view);
      this.fullRequested = false;
      const end = this.clock.now();
      if (full) this.lastFullAt = end;
      if (full || checked) this.lastCheckAt = end;
      this.lastSyncAt = end;
      const kind = full ? 'full' : 'partial';
      syncsTotal.inc({ kind });
      syncDuration.observe({ kind }, (end - started) / 1000);
      if (since !== undefined) programmingDuration.observe((end - since) / 1000);
      lastSync.set(end / 1000);
      chainsWritten.inc({ op: 'write' }, plan.written);
      chainsWritten.inc({ op: 'delete' }, plan.deleted);
      const ipFamily = `IPv${this.node.family ?? 4}`;
      for (const table of ['nat', 'filter'] as const) rulesTotal.set({ table, ip_family: ipFamily }, this.ruleCount[table]);
      this.log.debug('synced', { kind, written: plan.written, deleted: plan.deleted, bytes: plan.text.length, ms: end - started });
      await this.flushConntrack(before);
      return { kind, written: plan.written, deleted: plan.deleted, bytes: plan.text.length };
    } catch (err) {
      // The kernel kept its previous rules; the next attempt is a full resync of everything.
      this.fullRequested = true;
      this.pendingSince = since;
      restoreFailures.inc();
      const fields = err instanceof RestoreError ? { line: err.line, context: err.context.join(' | ') } : {};
      this.log.error(`sync failed: ${err instanceof Error ? err.message : String(err)}`, { kind: full ? 'full' : 'partial', ...fields });
      throw err;
    }
  }

  /** Syncs until the signal aborts; resolves after the first successful sync. */
  start(signal: AbortSignal): Promise<void> {
    return this.loop.start(signal);
  }

  /** Both tables' canaries hold their rule; any doubt (gone, flushed, unreadable) says no. */
  private async canaryPresent(): Promise<boolean> {
    for (const table of ['nat', 'filter'] as const) {
      const text = await this.runner.listChain(table, CANARY_CHAIN).catch(() => undefined);
      if (!text?.split('\n').includes(`-A ${CANARY_CHAIN} ${CANARY_RULE}`)) return false;
    }
    return true;
  }

  private partialCandidates(top: ReturnType<typeof topChains>, before: ReadonlyMap<NamespacedName, ServiceRules | undefined>): Candidate[] {
    const out: Candidate[] = [];
    for (const table of ['nat', 'filter'] as const) for (const c of top[table]) out.push({ table, name: c.name, chain: c });
    for (const [key, old] of before) {
      const now = this.fragments.get(key);
      const keep = new Set(now?.natChains.map((c) => c.name) ?? []);
      for (const c of now?.natChains ?? []) out.push({ table: 'nat', name: c.name, chain: c });
      for (const c of old?.natChains ?? []) if (!keep.has(c.name)) out.push({ table: 'nat', name: c.name, chain: undefined });
    }
    return out;
  }

  private async flushConntrack(before: ReadonlyMap<NamespacedName, ServiceRules | undefined>): Promise<void> {
    if (!this.conntrack) return;
    const old: ServicePortInfo[] = [];
    const cur: ServicePortInfo[] = [];
    for (const [key, frag] of before) {
      old.push(...(frag?.ports ?? []));
      cur.push(...(this.fragments.get(key)?.ports ?? []));
    }
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

/** One service's rules in a table: its share of the top chains plus its own chains (nat). */
function fragmentRules(f: ServiceRules | undefined, table: 'nat' | 'filter'): number {
  if (!f) return 0;
  return table === 'nat'
    ? f.natServices.length + f.natNodePorts.length + f.natChains.reduce((m, c) => m + c.rules.length, 0)
    : f.filterServices.length + f.filterExternal.length + f.filterFirewall.length + f.filterNodePorts.length;
}

const TOP_SHARES = ['natServices', 'natNodePorts', 'filterServices', 'filterExternal', 'filterFirewall', 'filterNodePorts'] as const;

/** Whether a service contributes the same rules to the top chains before and after (an endpoint change usually does). */
function sameTopShare(a: ServiceRules | undefined, b: ServiceRules | undefined): boolean {
  if (!a || !b) return a === b;
  return TOP_SHARES.every((k) => a[k].length === b[k].length && a[k].every((r, i) => r === b[k][i]));
}
