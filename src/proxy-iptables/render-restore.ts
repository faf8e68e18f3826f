import type { RuleSet, TableRules } from './compile.js';

export const TABLES = ['filter', 'nat'] as const;
export type KeelTable = (typeof TABLES)[number];

/**
 * The whole ruleset as one iptables-restore input (and `keel rules`
 * output): meant for `--noflush` — keel's chains are declared (so flushed)
 * and refilled, built-in chains only receive the jumps.
 */
export function renderRestore(rules: RuleSet): string {
  let text = '';
  for (const table of TABLES) text += renderTable(table, rules[table]);
  return text;
}

/**
 * Appended with `+`: the text lives only until it is written to
 * iptables-restore (flattened once there), and building it so took half
 * the CPU of one template literal per line joined (measured at 1k services:
 * 20 ms against 40 ms for 2.5 MB).
 */
function renderTable(name: string, t: TableRules): string {
  let text = '*' + name + '\n';
  for (const c of t.chains) text += ':' + c.name + ' - [0:0]\n';
  for (const j of t.jumps) text += '-A ' + j.chain + ' ' + j.rule + '\n';
  for (const c of t.chains) {
    const head = '-A ' + c.name + ' ';
    for (const r of c.rules) text += head + r + '\n';
  }
  return text + 'COMMIT\n';
}
