import type { ElementChange, RuleReplacement } from '../kernel/nftables/nf-tables-batch.js';
import type { NftChain, NftServiceRules, NftSet } from './nft-table.js';
import { renderSet } from './render-table.js';

export interface ServiceChange {
  readonly before: NftServiceRules | undefined;
  readonly after: NftServiceRules | undefined;
}

export interface ChangeScript {
  /** `nft -f` input; empty when nothing changed. */
  readonly text: string;
  readonly chainsWritten: number;
  readonly chainsDeleted: number;
  readonly elements: number;
  /** Whether anything but elements and rules replaced in place changed (sets or chains added, deleted, or a chain's length). */
  readonly structural: boolean;
  /** The element part of the transaction, deletions first (a changed value is a delete and an add). */
  readonly elementChanges: readonly ElementChange[];
  /** Rules of kept chains of unchanged length that differ from before (an endpoint pick's modulus): with the elements, all of the transaction when `structural` is false. */
  readonly ruleReplacements: readonly RuleReplacement[];
}

/**
 * The transaction that turns the changed services' old rules into their new
 * ones, touching nothing else: new and changed chains are (re)written,
 * elements that differ are deleted and added, chains and affinity sets
 * no longer used are flushed and deleted once nothing refers to them.
 * An element another (unchanged) service still puts in a shared set (an
 * endpoint's hairpin pair) is not deleted: `heldElsewhere` says which.
 * Undefined when a set's definition changed (an affinity timeout): that is
 * left to a full sync, which replaces the table.
 */
export function changeScript(
  changes: readonly ServiceChange[],
  family: string,
  table: string,
  heldElsewhere: (set: string, text: string) => boolean = () => false,
): ChangeScript | undefined {
  const at = `${family} ${table}`;
  const oldChains = new Map<string, NftChain>();
  const newChains = new Map<string, NftChain>();
  const oldSets = new Map<string, NftSet>();
  const newSets = new Map<string, NftSet>();
  const oldElements = new Map<string, Set<string>>();
  const newElements = new Map<string, Set<string>>();
  const add = <T>(m: Map<string, Set<T>>, k: string, v: T): void => {
    let s = m.get(k);
    if (!s) m.set(k, (s = new Set()));
    s.add(v);
  };
  for (const { before, after } of changes) {
    for (const c of before?.chains ?? []) oldChains.set(c.name, c);
    for (const c of after?.chains ?? []) newChains.set(c.name, c);
    for (const s of before?.sets ?? []) oldSets.set(s.name, s);
    for (const s of after?.sets ?? []) newSets.set(s.name, s);
    for (const e of before?.elements ?? []) add(oldElements, e.set, e.text);
    for (const e of after?.elements ?? []) add(newElements, e.set, e.text);
  }
  const sets: string[] = [];
  for (const [name, s] of newSets) {
    const old = oldSets.get(name);
    if (old && renderSet(old).join('\n') !== renderSet(s).join('\n')) return undefined;
    if (!old) sets.push(`add ${s.map ? 'map' : 'set'} ${at} ${name} { ${setSpec(s)} }`);
  }
  const declare: string[] = [];
  const rules: string[] = [];
  const ruleReplacements: RuleReplacement[] = [];
  let chainsWritten = 0;
  for (const [name, c] of newChains) {
    const old = oldChains.get(name);
    if (old && old.rules.length === c.rules.length) {
      const differ = c.rules.flatMap((rule, position) =>
        rule === old.rules[position] ? [] : [{ chain: name, position, length: c.rules.length, rule }],
      );
      if (!differ.length) continue;
      ruleReplacements.push(...differ);
    } else declare.push(`add chain ${at} ${name}`);
    chainsWritten++;
    if (old) rules.push(`flush chain ${at} ${name}`);
    for (const r of c.rules) rules.push(`add rule ${at} ${name} ${r}`);
  }
  const deletes: ElementChange[] = [];
  const adds: ElementChange[] = [];
  for (const name of new Set([...oldElements.keys(), ...newElements.keys()])) {
    const was = oldElements.get(name) ?? new Set<string>();
    const now = newElements.get(name) ?? new Set<string>();
    const gone = [...was].filter((e) => !now.has(e) && !heldElsewhere(name, e));
    const come = [...now].filter((e) => !was.has(e));
    if (gone.length) deletes.push({ op: 'delete', set: name, elements: gone });
    if (come.length) adds.push({ op: 'add', set: name, elements: come });
  }
  const elementChanges = [...deletes, ...adds];
  const elements = renderElementChanges(elementChanges, family, table);
  const removed = [...oldChains.keys()].filter((n) => !newChains.has(n));
  const drop = [
    ...removed.map((n) => `flush chain ${at} ${n}`),
    ...removed.map((n) => `delete chain ${at} ${n}`),
    ...[...oldSets.values()].filter((o) => !newSets.has(o.name)).map((o) => `delete ${o.map ? 'map' : 'set'} ${at} ${o.name}`),
  ];
  const lines = [...sets, ...declare, ...rules, ...elements, ...drop];
  return {
    text: lines.length ? `${lines.join('\n')}\n` : '',
    chainsWritten,
    chainsDeleted: removed.length,
    elements: elementChanges.reduce((n, c) => n + c.elements.length, 0),
    structural: sets.length + declare.length + drop.length > 0,
    elementChanges,
    ruleReplacements,
  };
}

/** Element changes as `nft -f` lines (what the netlink batch sends, in nft's words). */
export function renderElementChanges(changes: readonly ElementChange[], family: string, table: string): string[] {
  return changes.map((c) =>
    c.op === 'delete'
      ? `delete element ${family} ${table} ${c.set} { ${c.elements.map(elementKey).join(', ')} }`
      : `add element ${family} ${table} ${c.set} { ${c.elements.join(', ')} }`,
  );
}

/** An element's key alone (what `delete element` takes): its text before the comment or the value. */
function elementKey(text: string): string {
  const cut = [text.indexOf(' comment "'), text.indexOf(' : ')].filter((i) => i >= 0);
  return cut.length ? text.slice(0, Math.min(...cut)) : text;
}

function setSpec(s: NftSet): string {
  return renderSet(s)
    .slice(1, -1)
    .map((l) => l.trim())
    .filter((l) => !l.startsWith('elements') && !l.startsWith('size '))
    .map((l) => `${l};`)
    .join(' ');
}
