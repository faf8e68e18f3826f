import type { NftChain, NftSet, NftTable } from './nft-table.js';

/**
 * The table in `nft list table` syntax, which `nft -f` also reads: what
 * `keel rules --mode nftables` prints and what a full sync loads.
 * Byte-stable: elements sorted, chains and sets in the table's order.
 */
export function renderTable(t: NftTable): string {
  const out = [`table ${t.family} ${t.name} {`, '\tcomment "rules for keel"'];
  for (const s of t.sets) out.push(...renderSet(s), '');
  for (const c of t.chains) out.push(...renderChain(c), '');
  if (out.at(-1) === '') out.pop();
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** A full sync in one transaction: the table is replaced whole (created first, so deleting it never fails). */
export function renderFullSync(t: NftTable): string {
  return `add table ${t.family} ${t.name}\ndelete table ${t.family} ${t.name}\n${renderTable(t)}`;
}

export function renderSet(s: NftSet): string[] {
  const out = [`\t${s.map ? 'map' : 'set'} ${s.name} {`, `\t\t${s.typeKeyword ?? 'type'} ${s.type}`];
  // The kernel gives a dynamic set this size; written out, the listing reads back the same.
  if (s.flags?.includes('dynamic')) out.push('\t\tsize 65535');
  if (s.flags?.length) out.push(`\t\tflags ${s.flags.join(',')}`);
  if (s.timeoutSeconds !== undefined) out.push(`\t\ttimeout ${nftDuration(s.timeoutSeconds)}`);
  if (s.comment) out.push(`\t\tcomment "${s.comment}"`);
  if (s.elements.length) out.push(`\t\telements = { ${s.elements.join(',\n\t\t\t     ')} }`);
  out.push('\t}');
  return out;
}

function renderChain(c: NftChain): string[] {
  const out = [`\tchain ${c.name} {`];
  if (c.base)
    out.push(`\t\ttype ${c.base.type} hook ${c.base.hook} priority ${priorityText(c.base.hook, c.base.priority)}; policy accept;`);
  if (c.comment) out.push(`\t\tcomment "${c.comment}"`);
  for (const r of c.rules) out.push(`\t\t${r}`);
  out.push('\t}');
  return out;
}

/**
 * A priority as nft prints it: relative to dstnat (-100) at prerouting and
 * srcnat (100) at postrouting, a number elsewhere (nft 1.0.6 refuses
 * `dstnat` at output).
 */
function priorityText(hook: string, n: number): string {
  const named = hook === 'prerouting' ? (['dstnat', -100] as const) : hook === 'postrouting' ? (['srcnat', 100] as const) : undefined;
  if (!named) return String(n);
  const d = n - named[1];
  return d === 0 ? named[0] : `${named[0]} ${d < 0 ? '-' : '+'} ${Math.abs(d)}`;
}

/** Seconds as nft prints a duration: `3h`, `1m40s`, `1d2h`. */
export function nftDuration(seconds: number): string {
  const parts: string[] = [];
  let left = seconds;
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(left / size);
    if (n > 0) parts.push(`${n}${unit}`);
    left -= n * size;
  }
  return parts.join('') || '0s';
}
