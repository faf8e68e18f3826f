import {
  applyOps,
  BUILTIN_CHAINS,
  emptyTable,
  parseRestore,
  renderArgs,
  RestoreParseError,
  type Chain,
  type RestoreTable,
} from '../parse-restore.js';
import { RestoreError } from '../restore-error.js';
import type { IptablesRunner, RestoreOptions, TableName } from '../restore-runner.js';
import { checkDeclaration, checkGraph, checkRule, checkTableName } from './kernel-checks.js';

/**
 * An in-memory iptables for unit tests that checks what it is fed the way
 * the kernel would: it uses the same parser as `keel trace`, applies each
 * table atomically, and refuses what iptables-restore or the kernel refuses
 * (kernel-checks.ts: bad values such as `--probability 1.5`, rules in
 * undeclared chains, jumps to missing chains, loops, nat targets out of place).
 */
export class FakeRunner implements IptablesRunner {
  private readonly tables = new Map<string, Map<string, Chain>>();
  /** Every restore input accepted, in order (tests assert on partial syncs). */
  readonly restores: string[] = [];
  /** Every table dumped with save(), in order (tests assert a cheap sync read nothing whole). */
  readonly saves: TableName[] = [];
  /** Makes the next restore fail, as a kernel refusal would. */
  failNext: string | undefined;

  async restore(text: string, opts: RestoreOptions = { noflush: true }): Promise<void> {
    if (this.failNext !== undefined) {
      const msg = this.failNext;
      this.failNext = undefined;
      throw new RestoreError('fake iptables', text, `iptables-restore: line 1 failed: ${msg}`);
    }
    const staged = new Map<string, Map<string, Chain>>();
    try {
      for (const t of parseRestore(text)) {
        const base = staged.get(t.name) ?? (opts.noflush ? new Map(this.table(t.name)) : emptyTable(t.name));
        checkOps(t);
        applyOps(base, t);
        const bad = checkGraph(t.name, base);
        if (bad) throw new RestoreParseError(bad.line, bad.message);
        staged.set(t.name, base);
      }
    } catch (err) {
      if (err instanceof RestoreParseError)
        throw new RestoreError('fake iptables', text, `iptables-restore: line ${err.line} failed: ${err.message}`, err);
      throw err;
    }
    if (opts.test) return;
    for (const [name, state] of staged) this.tables.set(name, state);
    this.restores.push(text);
  }

  async save(table: TableName): Promise<string> {
    this.saves.push(table);
    return this.dump(table);
  }

  async listChain(table: TableName, chain: string): Promise<string | undefined> {
    const c = this.table(table).get(chain);
    if (!c) return undefined;
    const head = c.policy === '-' ? `-N ${chain}` : `-P ${chain} ${c.policy}`;
    return [head, ...c.rules.map((r) => `-A ${chain} ${renderArgs(r.args)}`), ''].join('\n');
  }

  /** The table as iptables-save prints it: built-in chains first, user chains sorted. */
  dump(table: string): string {
    const state = this.table(table);
    const builtins = BUILTIN_CHAINS[table] ?? [];
    const user = [...state.keys()].filter((c) => !builtins.includes(c)).sort();
    const chains = [...builtins, ...user].map((n) => state.get(n)).filter((c): c is Chain => c !== undefined);
    const lines = [`*${table}`];
    for (const c of chains) lines.push(`:${c.name} ${c.policy} [0:0]`);
    for (const c of chains) for (const r of c.rules) lines.push(`-A ${c.name} ${renderArgs(r.args)}`);
    lines.push('COMMIT', '');
    return lines.join('\n');
  }

  chainNames(table: string): string[] {
    return [...this.table(table).keys()];
  }

  private table(name: string): Map<string, Chain> {
    let t = this.tables.get(name);
    if (!t) {
      t = emptyTable(name);
      this.tables.set(name, t);
    }
    return t;
  }
}

function checkOps(table: RestoreTable): void {
  const badTable = checkTableName(table.name);
  if (badTable) throw new RestoreParseError(table.line, badTable);
  for (const op of table.ops) {
    if (op.kind === 'declare') {
      const bad = checkDeclaration(table.name, op.chain, op.policy);
      if (bad) throw new RestoreParseError(op.line, bad);
    } else if (op.kind === 'append' || op.kind === 'insert') {
      const bad = checkRule(table.name, op.rule);
      if (bad) throw new RestoreParseError(op.rule.line, bad);
    }
  }
}
