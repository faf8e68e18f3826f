import type { NfTablesDirect } from '../kernel/nftables/nf-tables-batch.js';
import type { NftablesPort } from '../kernel/nftables/nft-runner.js';
import { ruleExpressions } from '../kernel/nftables/nf-tables-rule.js';
import { createLogger } from '../observe/log.js';
import { ProxySyncLoop, type FragmentChange, type ProxySyncLoopOptions } from '../proxy-sync/proxy-sync-loop.js';
import type { ServiceView } from '../service-view/service-view.js';
import { changeScript } from './change-script.js';
import { assembleTable } from './compile.js';
import { compileNftService } from './compile-service.js';
import { CHAINS, MAPS, TABLE, type NftFamily } from './nft-names.js';
import type { NftServiceRules, NftTable } from './nft-table.js';
import { renderFullSync } from './render-table.js';

export interface NftSyncLoopOptions extends ProxySyncLoopOptions {
  port: NftablesPort;
  /** nf_tables messages without nft: element changes (with pick rules replaced in place) and the periodic check go here when given. */
  direct?: NfTablesDirect;
  family?: NftFamily;
}

export interface NftSyncResult {
  readonly kind: 'full' | 'partial' | 'none';
  /** How the change reached the kernel: an `nft -f` transaction, one netlink batch (elements, pick rules replaced), or not at all. */
  readonly path: 'nft' | 'netlink' | 'none';
  readonly chains: number;
  readonly elements: number;
  readonly bytes: number;
}

/**
 * Keeps keel's nftables table equal to the compiled rules. A full sync
 * (first, hourly, after any failure, and when the periodic check finds
 * the `services` chain gone or emptied) replaces the table in one `nft -f`
 * transaction; a partial sync sends only the changed services' chains and
 * elements: through `nft -f` when chains or sets are added or deleted, as
 * one netlink batch when only elements change, or elements and pick rules
 * replaced in place (an endpoint change, with endpoints as data, also one
 * whose count crosses a power of two).
 */
export class NftSyncLoop extends ProxySyncLoop<NftServiceRules, NftSyncResult> {
  private readonly port: NftablesPort;
  private readonly direct: NfTablesDirect | undefined;
  private readonly family: NftFamily;
  /** How many services put each element (`set\ntext`) in the table: a shared one (a hairpin pair) is deleted with its last holder. */
  private readonly holders = new Map<string, number>();
  protected readonly lostMessage = `the ${TABLE} table's ${CHAINS.services} chain is gone or flushed: someone else changed it; resyncing fully`;
  protected readonly idle: NftSyncResult = { kind: 'none', path: 'none', chains: 0, elements: 0, bytes: 0 };

  constructor(opts: NftSyncLoopOptions) {
    super(opts, createLogger('proxy-nftables'));
    this.port = opts.port;
    this.direct = opts.direct;
    this.family = opts.family ?? 'ip';
  }

  /** The table as last compiled. */
  table(): NftTable {
    return assembleTable(this.ordered(), this.node, this.family);
  }

  protected compile(view: ServiceView): NftServiceRules {
    return flatText(compileNftService(view, this.node));
  }

  protected async apply(full: boolean, changes: readonly FragmentChange<NftServiceRules>[]): Promise<NftSyncResult> {
    for (const c of changes) {
      this.hold(c.before, -1);
      this.hold(c.after, 1);
    }
    const held = (set: string, text: string): boolean => (this.holders.get(`${set}\n${text}`) ?? 0) > 0;
    const partial = full ? undefined : changeScript(changes, this.family, TABLE, held);
    // Elements (and pick rules replaced in place) go as one netlink batch: no nft cache; none of them holds a jump.
    const viaNetlink =
      partial !== undefined &&
      !partial.structural &&
      partial.elements + partial.ruleReplacements.length > 0 &&
      partial.ruleReplacements.every((r) => ruleExpressions(r.rule) !== undefined);
    const direct = viaNetlink ? this.direct : undefined;
    const text = partial ? partial.text : renderFullSync(this.table());
    if (direct && partial) await direct.commit(this.family, TABLE, partial.elementChanges, partial.ruleReplacements);
    else if (text) await this.port.run(text);
    return {
      kind: partial ? 'partial' : 'full',
      path: direct ? 'netlink' : text ? 'nft' : 'none',
      chains: partial ? partial.chainsWritten + partial.chainsDeleted : 0,
      elements: partial?.elements ?? 0,
      bytes: direct ? 0 : text.length,
    };
  }

  private hold(f: NftServiceRules | undefined, by: 1 | -1): void {
    for (const e of f?.elements ?? []) {
      const k = `${e.set}\n${e.text}`;
      const n = (this.holders.get(k) ?? 0) + by;
      if (n > 0) this.holders.set(k, n);
      else this.holders.delete(k);
    }
  }

  /**
   * The dispatch chain still holds its first rule (a lookup in service-ips).
   * Read through netlink when it can: `nft list chain` fetches nft's cache
   * of the whole ruleset first (seconds at 10k services).
   */
  protected async intact(): Promise<boolean> {
    if (this.direct) {
      const rules = await this.direct.chainRules(this.family, TABLE, CHAINS.services).catch(() => undefined);
      return rules?.[0]?.lookups.includes(MAPS.serviceIPs) ?? false;
    }
    const text = await this.port.listChain(this.family, TABLE, CHAINS.services).catch(() => undefined);
    return text?.includes(`vmap @${MAPS.serviceIPs}`) ?? false;
  }
}

/**
 * The fragment with its rules and elements as flat strings. They are built
 * by concatenation, which V8 keeps as ropes (a node per part) for as long
 * as the string lives, and a fragment lives until its service changes: at
 * 10k services the ropes were ~40 MB of the agent's heap, 3–4 times their text.
 */
function flatText(f: NftServiceRules): NftServiceRules {
  return {
    ...f,
    chains: f.chains.map((c) => ({ ...c, rules: c.rules.map(flatString) })),
    sets: f.sets.map((s) => ({ ...s, elements: s.elements.map(flatString) })),
    elements: f.elements.map((e) => ({ ...e, text: flatString(e.text) })),
  };
}

/** The same text in one fresh sequential string (what JSON.parse returns). */
function flatString(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}
