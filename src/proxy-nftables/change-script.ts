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
}

/**
 * The transaction that turns the changed services' old rules into their new
 * ones, touching nothing else: new and changed chains are (re)written,
 * elements that differ are deleted and added, chains and affinity sets
 * no longer used are flushed and deleted once nothing refers to them.
 * Undefined when a set's definition changed (an affinity timeout): that is
 * left to a full sync, which replaces the table.
 */
export function changeScript(changes: readonly ServiceChange[], family: string, table: string): ChangeScript | undefined {
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
    if (!old) sets.push(`add set ${at} ${name} { ${setSpec(s)} }`);
  }
  const declare: string[] = [];
  const rules: string[] = [];
  let chainsWritten = 0;
  for (const [name, c] of newChains) {
    const old = oldChains.get(name);
    if (old && old.rules.length === c.rules.length && old.rules.every((r, i) => r === c.rules[i])) continue;
    chainsWritten++;
    declare.push(`add chain ${at} ${name}`);
    if (old) rules.push(`flush chain ${at} ${name}`);
    for (const r of c.rules) rules.push(`add rule ${at} ${name} ${r}`);
  }
  const elements: string[] = [];
  let elementCount = 0;
  for (const name of new Set([...oldElements.keys(), ...newElements.keys()])) {
    const was = oldElements.get(name) ?? new Set<string>();
    const now = newElements.get(name) ?? new Set<string>();
    const gone = [...was].filter((e) => !now.has(e));
    const come = [...now].filter((e) => !was.has(e));
    // A key whose value changed is deleted and added in the same transaction.
    if (gone.length) elements.push(`delete element ${at} ${name} { ${gone.map(elementKey).join(', ')} }`);
    if (come.length) elements.push(`add element ${at} ${name} { ${come.join(', ')} }`);
    elementCount += gone.length + come.length;
  }
  const removed = [...oldChains.keys()].filter((n) => !newChains.has(n));
  const drop = [
    ...removed.map((n) => `flush chain ${at} ${n}`),
    ...removed.map((n) => `delete chain ${at} ${n}`),
    ...[...oldSets.keys()].filter((n) => !newSets.has(n)).map((n) => `delete set ${at} ${n}`),
  ];
  const lines = [...sets, ...declare, ...rules, ...elements, ...drop];
  return {
    text: lines.length ? `${lines.join('\n')}\n` : '',
    chainsWritten,
    chainsDeleted: removed.length,
    elements: elementCount,
  };
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
