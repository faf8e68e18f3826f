import { fillSets } from '../proxy-nftables/compile.js';
import type { NftServiceRules } from '../proxy-nftables/nft-table.js';
import { CLUSTER_IPS_SET, type NftFamily } from '../proxy-nftables/nft-names.js';
import { renderTable } from '../proxy-nftables/render-table.js';
import { diffObjects, parseTable, type NftObject } from '../proxy-nftables/table-diff.js';
import type { ChainState } from './service-rules-diff.js';

export interface ServiceNftDiff {
  /** This service's own chains and affinity sets: wanted ones, and ones the kernel still holds under its name. */
  objects: { kind: NftObject['kind']; name: string; rules: number; state: ChainState }[];
  /** This service's elements in the shared sets and maps, each present in the kernel or not. */
  elements: { set: string; kind: 'set' | 'map'; text: string; state: 'same' | 'missing' }[];
  /** Elements of the shared sets and maps that name this service but that keel does not want. */
  extraElements: string[];
  /** `-` (kernel) / `+` (wanted) lines under each of the service's objects that differ ('' when in sync). */
  diffText: string;
}

/**
 * `keel rules --mode nftables --diff` narrowed to one service: its share of
 * the table against `nft list table` of the node's kernel. A service's own
 * objects carry `ns/name/` in their names; its elements in the shared maps
 * name its chains or carry its name as their comment.
 */
export function diffServiceNft(fragment: NftServiceRules, family: NftFamily, tableName: string, kernel: string): ServiceNftDiff {
  // A service's endpoint maps hold its own elements, so they are compared whole, filled as a full sync fills them.
  const sets = fillSets(fragment.sets, fragment.elements);
  const want = parseTable(renderTable({ family, name: tableName, chains: fragment.chains, sets, ports: [] }));
  const have = parseTable(kernel);
  const ownName = `-${fragment.key}/`;
  const owned = (o: NftObject): boolean => o.name.includes(ownName);
  const names = [...want.keys(), ...[...have.entries()].filter(([k, o]) => owned(o) && !want.has(k)).map(([k]) => k)];
  const pick = (m: ReadonlyMap<string, NftObject>): Map<string, NftObject> =>
    new Map(names.flatMap((k) => (m.has(k) ? [[k, m.get(k) as NftObject] as const] : [])));
  const objects = names.map((k) => {
    const w = want.get(k);
    const h = have.get(k);
    const o = (w ?? h) as NftObject;
    const same = w && h && w.lines.length === h.lines.length && w.lines.every((l, i) => l === h.lines[i]);
    const state: ChainState = !w ? 'stale' : !h ? 'missing' : same ? 'same' : 'differs';
    return { kind: o.kind, name: o.name, rules: ruleCount(o), state };
  });

  // A hairpin pair is one element however many of the service's ports hold it.
  const unique = [...new Map(fragment.elements.map((e) => [`${e.set}: ${e.text}`, e])).values()];
  const wanted = new Set(unique.map((e) => `${e.set}: ${e.text}`));
  const elements = unique.map((e) => {
    const set = have.get(`map ${e.set}`) ?? have.get(`set ${e.set}`) ?? want.get(`map ${e.set}`);
    const kind = set?.kind === 'set' || e.set === CLUSTER_IPS_SET ? ('set' as const) : ('map' as const);
    return { set: e.set, kind, text: e.text, state: set?.lines.includes(`element ${e.text}`) ? ('same' as const) : ('missing' as const) };
  });
  const mine = (text: string): boolean =>
    text.includes(ownName) || text.includes(`comment "${fragment.key}"`) || text.includes(`comment "${fragment.key}:`);
  const extraElements: string[] = [];
  for (const o of have.values()) {
    if (o.kind === 'chain' || owned(o)) continue;
    for (const line of o.lines)
      if (line.startsWith('element ') && mine(line) && !wanted.has(`${o.name}: ${line.slice(8)}`))
        extraElements.push(`${o.kind} ${o.name}: ${line.slice(8)}`);
  }
  return { objects, elements, extraElements, diffText: diffObjects(pick(want), pick(have)) };
}

export function isNftInSync(d: ServiceNftDiff): boolean {
  return d.objects.every((o) => o.state === 'same') && d.elements.every((e) => e.state === 'same') && d.extraElements.length === 0;
}

/** A chain's rules: its lines but the comment and a base chain's header; a set counts its elements. */
function ruleCount(o: NftObject): number {
  if (o.kind !== 'chain') return o.lines.filter((l) => l.startsWith('element ')).length;
  return o.lines.filter((l) => !l.startsWith('comment ') && !l.startsWith('type ')).length;
}
