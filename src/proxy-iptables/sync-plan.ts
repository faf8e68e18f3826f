import { chainText, tablesOf } from '../kernel/iptables/parse-restore.js';
import { CANARY_CHAIN, CANARY_RULE, isServiceChainName, TOP_CHAINS } from './chain-names.js';
import type { ChainRules, JumpRule, RuleSet } from './compile.js';
import { TABLES, type KeelTable } from './render-restore.js';

/**
 * What keel believes the kernel holds: per table, the text of every keel
 * chain, and the rules of the built-in chains (where keel's jumps live).
 */
export type KernelView = Record<KeelTable, Map<string, string>>;

export function emptyKernelView(): KernelView {
  return { filter: new Map(), nat: new Map() };
}

/** Reads an iptables-save dump into the view: keel's chains and the built-in chains, nothing else. */
export function kernelViewOf(dumps: Record<KeelTable, string>): KernelView {
  const view = emptyKernelView();
  for (const table of TABLES) {
    const state = tablesOf(dumps[table]).get(table);
    for (const [name, chain] of state ?? []) {
      if (isOwned(table, name) || chain.policy !== '-') view[table].set(name, chainText(chain));
    }
  }
  return view;
}

function isOwned(table: KeelTable, name: string): boolean {
  return name === CANARY_CHAIN || (TOP_CHAINS[table] as readonly string[]).includes(name) || (table === 'nat' && isServiceChainName(name));
}

export function chainBody(c: ChainRules): string {
  return c.rules.map((r) => `-A ${c.name} ${r}`).join('\n');
}

/** A chain to compare: its wanted rules, or undefined when it should be gone. */
export interface Candidate {
  readonly table: KeelTable;
  readonly name: string;
  readonly chain: ChainRules | undefined;
}

export interface SyncPlan {
  /** iptables-restore --noflush input, empty when the kernel already matches. */
  readonly text: string;
  readonly written: number;
  readonly deleted: number;
  /** The view after the plan is applied. */
  readonly apply: (view: KernelView) => void;
}

/** Every chain keel wants plus every keel chain the kernel holds: a full resync's candidates. */
export function allCandidates(rules: RuleSet, view: KernelView): Candidate[] {
  const out: Candidate[] = [];
  for (const table of TABLES) {
    const wanted = new Set<string>();
    for (const c of rules[table].chains) {
      wanted.add(c.name);
      out.push({ table, name: c.name, chain: c });
    }
    out.push({ table, name: CANARY_CHAIN, chain: { name: CANARY_CHAIN, rules: [CANARY_RULE] } });
    for (const name of view[table].keys()) {
      if (!wanted.has(name) && isOwned(table, name) && isServiceChainName(name)) out.push({ table, name, chain: undefined });
    }
  }
  return out;
}

/**
 * Compares the candidates with the view, chain by chain, and writes only
 * what differs: changed chains are declared (flushed) and refilled, stale
 * ones flushed and deleted after every rewrite that could reference them,
 * missing jumps inserted. Never re-declares an unchanged chain (with nft
 * that is what makes a full rewrite super-linear).
 */
export function planSync(candidates: readonly Candidate[], jumps: Record<KeelTable, readonly JumpRule[]>, view: KernelView): SyncPlan {
  const out: string[] = [];
  const updates: { table: KeelTable; name: string; body: string | undefined }[] = [];
  let written = 0;
  let deleted = 0;
  for (const table of TABLES) {
    const decl: string[] = [];
    const body: string[] = [];
    const drop: string[] = [];
    for (const cand of candidates) {
      if (cand.table !== table) continue;
      const have = view[table].get(cand.name);
      if (!cand.chain) {
        if (have === undefined) continue;
        decl.push(`:${cand.name} - [0:0]`);
        drop.push(`-X ${cand.name}`);
        updates.push({ table, name: cand.name, body: undefined });
        deleted++;
        continue;
      }
      const want = chainBody(cand.chain);
      if (have === want) continue;
      decl.push(`:${cand.name} - [0:0]`);
      if (want) body.push(want);
      updates.push({ table, name: cand.name, body: want });
      written++;
    }
    const inserts: string[] = [];
    const builtins = new Map<string, string>();
    for (const j of [...jumps[table]].reverse()) {
      const line = `-A ${j.chain} ${j.rule}`;
      const cur = builtins.get(j.chain) ?? view[table].get(j.chain) ?? '';
      const lines = cur ? cur.split('\n') : [];
      const copies = lines.filter((l) => l === line).length;
      if (copies === 1) continue;
      if (copies === 0) {
        inserts.push(`-I ${j.chain} 1 ${j.rule}`);
        builtins.set(j.chain, [line, ...lines].join('\n'));
        continue;
      }
      // Two agents' restores can both insert a jump (one killed mid-commit,
      // its orphaned iptables-restore finishing after the next agent read
      // the kernel); a doubled jump would otherwise stay forever.
      for (let i = 1; i < copies; i++) inserts.push(`-D ${j.chain} ${j.rule}`);
      // Each -D removes the first match, so the kernel keeps the last copy.
      const last = lines.lastIndexOf(line);
      builtins.set(j.chain, lines.filter((l, i) => l !== line || i === last).join('\n'));
    }
    for (const [name, b] of builtins) updates.push({ table, name, body: b });
    if (decl.length + inserts.length === 0) continue;
    out.push(`*${table}`, ...decl, ...body, ...inserts, ...drop, 'COMMIT');
  }
  return {
    text: out.length ? `${out.join('\n')}\n` : '',
    written,
    deleted,
    apply: (v) => {
      for (const u of updates) {
        if (u.body === undefined) v[u.table].delete(u.name);
        else v[u.table].set(u.name, u.body);
      }
    },
  };
}

/**
 * Removes every keel chain and every jump into one, leaving other rules
 * alone: flush keel's chains, delete the jumps, then delete the chains.
 */
export function planCleanup(view: KernelView): string {
  const out: string[] = [];
  for (const table of TABLES) {
    const owned = [...view[table].keys()].filter((n) => isOwned(table, n)).sort();
    const ownedSet = new Set(owned);
    const unjump: string[] = [];
    for (const [name, body] of view[table]) {
      if (ownedSet.has(name) || !body) continue;
      for (const line of body.split('\n')) {
        const target = /\s-[jg] (\S+)/.exec(line)?.[1];
        if (target && ownedSet.has(target)) unjump.push(`-D${line.slice(2)}`);
      }
    }
    if (owned.length + unjump.length === 0) continue;
    out.push(`*${table}`, ...owned.map((n) => `:${n} - [0:0]`), ...unjump, ...owned.map((n) => `-X ${n}`), 'COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
