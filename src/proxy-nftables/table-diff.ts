/**
 * Compares two tables in `nft list table` syntax object by object: a
 * chain's header and rules in order, a set's or map's header and its
 * elements as a set (the kernel lists them in hash order, wrapped). The
 * elements of dynamic sets (affinity) are the kernel's to fill and are
 * not compared.
 */
export interface NftObject {
  readonly kind: 'chain' | 'set' | 'map';
  readonly name: string;
  readonly lines: readonly string[];
}

/** Each chain, set and map of a listing by `kind name`; elements become sorted `element …` lines. */
export function parseTable(text: string): Map<string, NftObject> {
  const objects = new Map<string, NftObject>();
  let cur: { kind: NftObject['kind']; name: string; lines: string[]; elements: string[] | undefined; dynamic: boolean } | undefined;
  let pending: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (pending !== undefined) {
      pending += ` ${line}`;
      if (!line.endsWith('}')) continue;
      cur?.elements?.push(...splitElements(pending));
      pending = undefined;
      continue;
    }
    const start = /^(chain|set|map) (\S+) \{$/.exec(line);
    if (start) {
      cur = {
        kind: start[1] as NftObject['kind'],
        name: start[2] ?? '',
        lines: [],
        elements: start[1] === 'chain' ? undefined : [],
        dynamic: false,
      };
      continue;
    }
    if (!cur) continue;
    if (line === '}') {
      const elements = cur.dynamic ? [] : [...new Set(cur.elements ?? [])].sort().map((e) => `element ${e}`);
      objects.set(`${cur.kind} ${cur.name}`, { kind: cur.kind, name: cur.name, lines: [...cur.lines, ...elements] });
      cur = undefined;
      continue;
    }
    if (cur.elements && line.startsWith('elements = {')) {
      pending = line;
      if (!line.endsWith('}')) continue;
      cur.elements.push(...splitElements(pending));
      pending = undefined;
      continue;
    }
    if (line.startsWith('flags ') && line.includes('dynamic')) cur.dynamic = true;
    cur.lines.push(line);
  }
  return objects;
}

function splitElements(text: string): string[] {
  const body = text.replace(/^elements = \{\s*/, '').replace(/\s*\}$/, '');
  return body
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
}

/** What turns `have` into `want`, as `-`/`+` lines under each object that differs; empty when they match. */
export function diffTables(want: string, have: string): string {
  return diffObjects(parseTable(want), parseTable(have));
}

/** diffTables over parsed objects, so a caller can narrow them first (one service's, in `keel describe`). */
export function diffObjects(w: ReadonlyMap<string, NftObject>, h: ReadonlyMap<string, NftObject>): string {
  const out: string[] = [];
  for (const key of [...new Set([...w.keys(), ...h.keys()])].sort()) {
    const a = h.get(key)?.lines;
    const b = w.get(key)?.lines;
    if (a && b && a.length === b.length && a.every((l, i) => l === b[i])) continue;
    out.push(`${!a ? '+' : !b ? '-' : ' '} ${key}`);
    const keep = new Set(b ?? []);
    const had = new Set(a ?? []);
    for (const l of a ?? []) if (!keep.has(l)) out.push(`-\t${l}`);
    for (const l of b ?? []) if (!had.has(l)) out.push(`+\t${l}`);
    // Same lines in another order (a chain's rules): show the wanted order.
    if (a && b && out.at(-1) === `${' '} ${key}`) for (const l of b) out.push(`~\t${l}`);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
