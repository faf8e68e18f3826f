import { KeelError } from '../../api/errors.js';

/**
 * Reads iptables-save / iptables-restore text into operations per table.
 * One parser serves the fake runner (which applies the operations), the
 * tracer and the kernel diff (which read a saved dump), so what keel writes,
 * what it traces and what it compares are understood the same way.
 */
export interface Rule {
  readonly chain: string;
  /** Tokens after `-A CHAIN`, quotes removed. */
  readonly args: readonly string[];
  /** The rule as written after `-A CHAIN ` (iptables-save prints it canonically). */
  readonly raw: string;
  /** `-j`/`-g` target, if any. */
  readonly target: string | undefined;
  readonly goto: boolean;
  /** 1-based line in the parsed text. */
  readonly line: number;
}

export type RestoreOp =
  | { readonly kind: 'declare'; readonly chain: string; readonly policy: string; readonly line: number }
  | { readonly kind: 'append'; readonly rule: Rule }
  | { readonly kind: 'insert'; readonly rule: Rule; readonly position: number }
  | { readonly kind: 'delete-rule'; readonly rule: Rule }
  | { readonly kind: 'flush'; readonly chain: string | undefined; readonly line: number }
  | { readonly kind: 'delete-chain'; readonly chain: string | undefined; readonly line: number };

export interface RestoreTable {
  readonly name: string;
  readonly ops: readonly RestoreOp[];
  readonly line: number;
}

export interface Chain {
  readonly name: string;
  /** `ACCEPT`/`DROP` for built-in chains, `-` for user chains. */
  readonly policy: string;
  readonly rules: readonly Rule[];
}

export class RestoreParseError extends KeelError {
  override name = 'RestoreParseError' as const;
  readonly line: number;
  constructor(line: number, message: string) {
    super('KEEL_RESTORE_FAILED', `line ${line}: ${message}`, { subject: 'iptables-restore input' });
    this.line = line;
  }
}

export function parseRestore(text: string): RestoreTable[] {
  const tables: RestoreTable[] = [];
  let current: { name: string; ops: RestoreOp[]; line: number } | undefined;
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const n = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      if (current) throw new RestoreParseError(n, `table ${line.slice(1)} starts before ${current.name} is committed`);
      current = { name: line.slice(1), ops: [], line: n };
      continue;
    }
    if (!current) throw new RestoreParseError(n, `"${line.slice(0, 40)}" outside a table`);
    if (line === 'COMMIT') {
      tables.push(current);
      current = undefined;
      continue;
    }
    current.ops.push(parseOp(line, n));
  }
  if (current) throw new RestoreParseError(lines.length, `table ${current.name} has no COMMIT`);
  return tables;
}

function parseOp(line: string, n: number): RestoreOp {
  if (line.startsWith(':')) {
    const [chain, policy] = line.slice(1).split(/\s+/);
    if (!chain || !policy) throw new RestoreParseError(n, `bad chain declaration "${line}"`);
    return { kind: 'declare', chain, policy, line: n };
  }
  const tokens = tokenize(line, n);
  const [flag, chain, ...rest] = tokens;
  const raw = (skip: number): string => line.split(' ').slice(skip).join(' ');
  switch (flag) {
    case '-A':
    case '--append':
      return { kind: 'append', rule: makeRule(requireChain(chain, n), rest, raw(2), n) };
    case '-D':
    case '--delete':
      return { kind: 'delete-rule', rule: makeRule(requireChain(chain, n), rest, raw(2), n) };
    case '-I':
    case '--insert': {
      const numbered = rest[0] !== undefined && /^\d+$/.test(rest[0]);
      const pos = numbered ? Number(rest.shift()) : 1;
      return { kind: 'insert', rule: makeRule(requireChain(chain, n), rest, raw(numbered ? 3 : 2), n), position: pos };
    }
    case '-F':
    case '--flush':
      return { kind: 'flush', chain, line: n };
    case '-X':
    case '--delete-chain':
      return { kind: 'delete-chain', chain, line: n };
    default:
      throw new RestoreParseError(n, `unknown command "${flag ?? ''}"`);
  }
}

function requireChain(chain: string | undefined, n: number): string {
  if (!chain || chain.startsWith('-')) throw new RestoreParseError(n, 'a chain name is missing');
  return chain;
}

function makeRule(chain: string, args: string[], raw: string, line: number): Rule {
  let target: string | undefined;
  let goto = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-j' || a === '--jump' || a === '-g' || a === '--goto') {
      target = args[i + 1];
      goto = a === '-g' || a === '--goto';
    }
  }
  return { chain, args, raw, target, goto, line };
}

/** Splits like iptables-restore: whitespace separates, double quotes group, backslash escapes inside quotes. */
export function tokenize(line: string, n = 0): string[] {
  if (!line.includes('"')) return line.split(/[ \t]+/).filter((t) => t !== '');
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let inToken = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '\\' && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inToken = true;
    } else if (c === ' ' || c === '\t') {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += c;
      inToken = true;
    }
  }
  if (quoted) throw new RestoreParseError(n, 'unterminated quote');
  if (inToken) out.push(cur);
  return out;
}

/** Renders rule args back to text in iptables-save's quoting (comments always quoted). */
export function renderArgs(args: readonly string[]): string {
  return args.map((a, i) => (args[i - 1] === '--comment' || /[\s"'\\]/.test(a) || a === '' ? quote(a) : a)).join(' ');
}

export function quote(s: string): string {
  return `"${s.replace(/[\\"']/g, (c) => `\\${c}`)}"`;
}

export const BUILTIN_CHAINS: Readonly<Record<string, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

/** A table holding only its built-in chains, as after `iptables -t T -F -X`. */
export function emptyTable(name: string): Map<string, Chain> {
  return new Map((BUILTIN_CHAINS[name] ?? []).map((c) => [c, { name: c, policy: 'ACCEPT', rules: [] }]));
}

/** Builds table states from a dump (iptables-save output) or a restore input applied to empty tables. */
export function tablesOf(text: string): Map<string, Map<string, Chain>> {
  const out = new Map<string, Map<string, Chain>>();
  for (const t of parseRestore(text)) {
    const state = out.get(t.name) ?? emptyTable(t.name);
    applyOps(state, t);
    out.set(t.name, state);
  }
  return out;
}

/**
 * Applies one table's operations as iptables-restore --noflush would:
 * a declaration creates or flushes a chain; rules may only jump to chains
 * that exist (built-in targets aside) once the table is committed.
 */
export function applyOps(state: Map<string, Chain>, table: RestoreTable): void {
  const fail = (line: number, msg: string): never => {
    throw new RestoreParseError(line, msg);
  };
  // Chains are rebuilt with fresh, mutable rule arrays as they are touched (a dump appends many rules per chain).
  const mutable = new Map<string, Rule[]>();
  const rulesOf = (name: string, line: number): Rule[] => {
    let rules = mutable.get(name);
    if (!rules) {
      const c = state.get(name) ?? fail(line, `chain ${name} does not exist`);
      rules = [...c.rules];
      mutable.set(name, rules);
      state.set(name, { ...c, rules });
    }
    return rules;
  };
  for (const op of table.ops) {
    switch (op.kind) {
      case 'declare': {
        const rules: Rule[] = [];
        state.set(op.chain, { name: op.chain, policy: op.policy, rules });
        mutable.set(op.chain, rules);
        break;
      }
      case 'append':
        rulesOf(op.rule.chain, op.rule.line).push(op.rule);
        break;
      case 'insert': {
        const rules = rulesOf(op.rule.chain, op.rule.line);
        if (op.position < 1 || op.position > rules.length + 1)
          fail(op.rule.line, `index of insertion too big: ${op.position} in chain ${op.rule.chain}`);
        rules.splice(op.position - 1, 0, op.rule);
        break;
      }
      case 'delete-rule': {
        const rules = rulesOf(op.rule.chain, op.rule.line);
        const want = renderArgs(op.rule.args);
        const idx = rules.findIndex((r) => renderArgs(r.args) === want);
        if (idx < 0) fail(op.rule.line, `no such rule in chain ${op.rule.chain}`);
        rules.splice(idx, 1);
        break;
      }
      case 'flush':
        for (const name of op.chain ? [op.chain] : [...state.keys()]) rulesOf(name, op.line).length = 0;
        break;
      case 'delete-chain': {
        const victims = op.chain
          ? [state.get(op.chain) ?? fail(op.line, `chain ${op.chain} does not exist`)]
          : [...state.values()].filter((c) => c.policy === '-');
        for (const v of victims) {
          if (v.policy !== '-') fail(op.line, `cannot delete built-in chain ${v.name}`);
          const user = [...state.values()].find((c) => c.name !== v.name && c.rules.some((r) => r.target === v.name));
          if (user && !victims.includes(user)) fail(op.line, `chain ${v.name} is still referenced from ${user.name}`);
          if (v.rules.length > 0 && op.chain) fail(op.line, `chain ${v.name} is not empty`);
        }
        for (const v of victims) {
          state.delete(v.name);
          mutable.delete(v.name);
        }
        break;
      }
    }
  }
}

/** One chain's rules as text, for comparing what the kernel holds with what keel wants. */
export function chainText(chain: Chain): string {
  return chain.rules.map((r) => `-A ${chain.name} ${r.raw}`).join('\n');
}
