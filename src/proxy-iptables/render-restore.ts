import type { RuleSet, TableRules } from './compile.js';

export const TABLES = ['filter', 'nat'] as const;
export type KeelTable = (typeof TABLES)[number];

/**
 * The whole ruleset as one iptables-restore input (and `keel rules`
 * output): meant for `--noflush` — keel's chains are declared (so flushed)
 * and refilled, built-in chains only receive the jumps.
 */
export function renderRestore(rules: RuleSet): string {
  const out: string[] = [];
  for (const table of TABLES) renderTable(out, table, rules[table]);
  return `${out.join('\n')}\n`;
}

function renderTable(out: string[], name: string, t: TableRules): void {
  out.push(`*${name}`);
  for (const c of t.chains) out.push(`:${c.name} - [0:0]`);
  for (const j of t.jumps) out.push(`-A ${j.chain} ${j.rule}`);
  for (const c of t.chains) for (const r of c.rules) out.push(`-A ${c.name} ${r}`);
  out.push('COMMIT');
}
