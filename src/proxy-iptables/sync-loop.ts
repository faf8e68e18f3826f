import { createLogger, type Fields } from '../observe/log.js';
import type { IptablesRunner } from '../kernel/iptables/restore-runner.js';
import { RestoreError } from '../kernel/iptables/restore-error.js';
import type { ServiceView } from '../service-view/service-view.js';
import { assembleRuleSet, keelJumps, topChains, type NodeConfig, type RuleSet, type ServiceRules } from './compile.js';
import { CANARY_CHAIN, CANARY_RULE } from './chain-names.js';
import { compileService } from './compile-service.js';
import { chainsWritten, rulesTotal } from './metrics.js';
import { ProxySyncLoop, type FragmentChange, type ProxySyncLoopOptions } from '../proxy-sync/proxy-sync-loop.js';
import { allCandidates, emptyKernelView, kernelViewOf, planSync, type Candidate, type KernelView } from './sync-plan.js';

export interface SyncLoopOptions extends ProxySyncLoopOptions {
  runner: IptablesRunner;
}

export interface SyncResult {
  readonly kind: 'full' | 'partial' | 'none';
  readonly written: number;
  readonly deleted: number;
  readonly bytes: number;
}

/**
 * Keeps the kernel's keel chains equal to the compiled rules. A partial
 * sync writes only the changed services' chains (and top chains that
 * differ); a full resync reads the kernel with iptables-save and rewrites
 * only the chains that differ. The periodic check reads only the canary
 * chains, so a flushed table is repaired within one period.
 */
export class SyncLoop extends ProxySyncLoop<ServiceRules, SyncResult> {
  private readonly runner: IptablesRunner;
  private view: KernelView = emptyKernelView();
  /** Rules keel holds per table, kept by difference so a partial sync never walks every service. */
  private readonly ruleCount: Record<'nat' | 'filter', number>;
  /** The node config the count's fixed rules were counted for (NodePort addresses can change). */
  private counted: NodeConfig;
  protected readonly lostMessage = `${CANARY_CHAIN} is gone or flushed: someone else rewrote the tables; resyncing fully`;
  protected readonly idle: SyncResult = { kind: 'none', written: 0, deleted: 0, bytes: 0 };

  constructor(opts: SyncLoopOptions) {
    super(opts, createLogger('proxy-iptables'));
    this.runner = opts.runner;
    this.ruleCount = fixedRules(opts.node);
    this.counted = opts.node;
  }

  /** The rules as last compiled (for tracing what the loop programs). */
  rules(): RuleSet {
    return assembleRuleSet(this.ordered(), this.node);
  }

  protected compile(view: ServiceView): ServiceRules {
    return compileService(view, this.node);
  }

  protected async apply(full: boolean, changes: readonly FragmentChange<ServiceRules>[]): Promise<SyncResult> {
    let topChanged = false;
    if (this.node !== this.counted) {
      const [was, now] = [fixedRules(this.counted), fixedRules(this.node)];
      for (const table of ['nat', 'filter'] as const) this.ruleCount[table] += now[table] - was[table];
      this.counted = this.node;
    }
    for (const { before, after } of changes) {
      topChanged ||= !sameTopShare(before, after);
      for (const table of ['nat', 'filter'] as const) this.ruleCount[table] += fragmentRules(after, table) - fragmentRules(before, table);
    }
    if (full) this.view = kernelViewOf({ nat: await this.runner.save('nat'), filter: await this.runner.save('filter') });
    // A partial sync never assembles every service's chains, and rebuilds the top chains (10k rules at 10k services) only when a changed service's share of them changed.
    const candidates = full
      ? allCandidates(assembleRuleSet(this.ordered(), this.node), this.view)
      : this.partialCandidates(topChanged ? topChains(this.ordered(), this.node) : { nat: [], filter: [] }, changes);
    const plan = planSync(candidates, keelJumps(), this.view);
    if (plan.text) await this.runner.restore(plan.text, { noflush: true });
    plan.apply(this.view);
    chainsWritten.inc({ op: 'write' }, plan.written);
    chainsWritten.inc({ op: 'delete' }, plan.deleted);
    const ipFamily = `IPv${this.node.family ?? 4}`;
    for (const table of ['nat', 'filter'] as const) rulesTotal.set({ table, ip_family: ipFamily }, this.ruleCount[table]);
    return { kind: full ? 'full' : 'partial', written: plan.written, deleted: plan.deleted, bytes: plan.text.length };
  }

  protected override failureFields(err: unknown): Fields {
    return err instanceof RestoreError ? { line: err.line, context: err.context.join(' | ') } : {};
  }

  /** Both tables' canaries hold their rule; any doubt (gone, flushed, unreadable) says no. */
  protected async intact(): Promise<boolean> {
    for (const table of ['nat', 'filter'] as const) {
      const text = await this.runner.listChain(table, CANARY_CHAIN).catch(() => undefined);
      if (!text?.split('\n').includes(`-A ${CANARY_CHAIN} ${CANARY_RULE}`)) return false;
    }
    return true;
  }

  private partialCandidates(top: ReturnType<typeof topChains>, changes: readonly FragmentChange<ServiceRules>[]): Candidate[] {
    const out: Candidate[] = [];
    for (const table of ['nat', 'filter'] as const) for (const c of top[table]) out.push({ table, name: c.name, chain: c });
    for (const { before, after } of changes) {
      const keep = new Set(after?.natChains.map((c) => c.name) ?? []);
      for (const c of after?.natChains ?? []) out.push({ table: 'nat', name: c.name, chain: c });
      for (const c of before?.natChains ?? []) if (!keep.has(c.name)) out.push({ table: 'nat', name: c.name, chain: undefined });
    }
    return out;
  }
}

/** keel's fixed rules per table (postrouting, forwarding, the localnet guard…): the top chains of no service. */
function fixedRules(node: NodeConfig): Record<'nat' | 'filter', number> {
  const fixed = topChains([], node);
  return { nat: fixed.nat.reduce((n, c) => n + c.rules.length, 0), filter: fixed.filter.reduce((n, c) => n + c.rules.length, 0) };
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
