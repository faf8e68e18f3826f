import { isIP } from 'node:net';
import { BUILTIN_CHAINS, type Chain, type Rule } from '../parse-restore.js';

/**
 * What iptables-restore and the kernel refuse that the parser alone lets
 * through, so the fake runner fails where a real restore would: values out
 * of range, options used before their match module is loaded, targets in a
 * table or hook they are not registered for, jumps to missing or built-in
 * chains, and loops. Lenient on purpose for anything it does not know: a
 * false refusal would fail tests the kernel passes.
 */

const TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

/** Targets the kernel provides (kube-proxy, keel and the tests use these). */
const BUILTIN_TARGETS = new Set([
  'ACCEPT',
  'DROP',
  'RETURN',
  'REJECT',
  'DNAT',
  'SNAT',
  'MASQUERADE',
  'MARK',
  'CONNMARK',
  'LOG',
  'REDIRECT',
  'NOTRACK',
  'CT',
  'QUEUE',
  'NFQUEUE',
  'TCPMSS',
]);

/** xt_nat / xt_MASQUERADE / xt_REDIRECT: `.table = "nat"` and the hooks each target registers for. */
const NAT_TARGET_HOOKS: Readonly<Record<string, readonly string[]>> = {
  DNAT: ['PREROUTING', 'OUTPUT'],
  REDIRECT: ['PREROUTING', 'OUTPUT'],
  SNAT: ['POSTROUTING', 'INPUT'],
  MASQUERADE: ['POSTROUTING'],
};

/** Options each match module adds; using one before `-m MODULE` (or `-p` for the protocol matches) is "unknown option". */
const MATCH_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  tcp: ['--dport', '--sport', '--destination-port', '--source-port', '--tcp-flags', '--syn', '--tcp-option'],
  udp: ['--dport', '--sport', '--destination-port', '--source-port'],
  sctp: ['--dport', '--sport', '--destination-port', '--source-port', '--chunk-types'],
  multiport: ['--dports', '--sports', '--ports', '--destination-ports', '--source-ports'],
  comment: ['--comment'],
  statistic: ['--mode', '--probability', '--every', '--packet'],
  conntrack: [
    '--ctstate',
    '--ctproto',
    '--ctorigsrc',
    '--ctorigdst',
    '--ctreplsrc',
    '--ctrepldst',
    '--ctorigsrcport',
    '--ctorigdstport',
    '--ctstatus',
    '--ctexpire',
    '--ctdir',
  ],
  addrtype: ['--src-type', '--dst-type', '--limit-iface-in', '--limit-iface-out'],
  mark: ['--mark'],
  recent: [
    '--name',
    '--set',
    '--rcheck',
    '--update',
    '--remove',
    '--rsource',
    '--rdest',
    '--seconds',
    '--hitcount',
    '--reap',
    '--rttl',
    '--mask',
  ],
};
const OPTION_MODULES = new Map<string, string[]>();
for (const [module, options] of Object.entries(MATCH_OPTIONS)) {
  for (const o of options) OPTION_MODULES.set(o, [...(OPTION_MODULES.get(o) ?? []), module]);
}
/** Options that take no argument. */
const FLAG_OPTIONS = new Set([
  '--syn',
  '--set',
  '--rcheck',
  '--update',
  '--remove',
  '--rsource',
  '--rdest',
  '--reap',
  '--rttl',
  '--random',
  '--random-fully',
  '--persistent',
]);
const PORT_PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);
const CT_STATES = new Set(['INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED', 'SNAT', 'DNAT']);
const ADDR_TYPES = new Set([
  'UNSPEC',
  'UNICAST',
  'LOCAL',
  'BROADCAST',
  'ANYCAST',
  'MULTICAST',
  'BLACKHOLE',
  'UNREACHABLE',
  'PROHIBIT',
  'THROW',
  'NAT',
  'XRESOLVE',
]);
/** XT_EXTENSION_MAXNAMELEN is 29 including the NUL. */
const MAX_CHAIN_NAME = 28;

export function checkTableName(name: string): string | undefined {
  return TABLES.has(name) ? undefined : `can't initialize iptables table \`${name}': Table does not exist`;
}

/** A chain declaration iptables-restore refuses: bad name, or a policy on a user chain. */
export function checkDeclaration(table: string, chain: string, policy: string): string | undefined {
  const builtin = (BUILTIN_CHAINS[table] ?? []).includes(chain);
  if (builtin)
    return policy === 'ACCEPT' || policy === 'DROP' || policy === '-' ? undefined : `bad policy ${policy} for built-in chain ${chain}`;
  if (chain.length > MAX_CHAIN_NAME) return `chain name \`${chain}' too long (must be under ${MAX_CHAIN_NAME + 1} chars)`;
  if (chain.startsWith('-') || chain.startsWith('!') || BUILTIN_TARGETS.has(chain)) return `invalid chain name \`${chain}'`;
  // iptables-legacy-restore refuses this; iptables-nft-restore ignores the policy. The fake takes the stricter side.
  if (policy !== '-') return `can't set policy \`${policy}' on \`${chain}': Bad built-in chain name`;
  return undefined;
}

/** The first problem with one rule's options, as iptables-restore would report it. */
export function checkRule(table: string, rule: Rule): string | undefined {
  const args = rule.args;
  const modules = new Set<string>();
  let protocol: string | undefined;
  let target: string | undefined;
  let mode: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const opt = args[i] as string;
    if (opt === '!') continue;
    const value = args[i + 1] === '!' ? args[i + 2] : args[i + 1];
    const need = (): string => {
      if (value === undefined || value.startsWith('-')) throw new CheckFailure(`option "${opt}" requires an argument`);
      return value;
    };
    try {
      if (opt === '-m' || opt === '--match') {
        modules.add(need());
      } else if (opt === '-p' || opt === '--protocol') {
        protocol = need().toLowerCase();
      } else if (opt === '-j' || opt === '--jump' || opt === '-g' || opt === '--goto') {
        target = need();
      } else if (opt === '-s' || opt === '--source' || opt === '-d' || opt === '--destination') {
        checkAddress(need());
      } else if (target !== undefined) {
        checkTargetOption(target, opt, args[i + 1]);
      } else if (OPTION_MODULES.has(opt)) {
        const owners = OPTION_MODULES.get(opt) ?? [];
        const loaded = owners.some((m) => modules.has(m) || (protocol === m && PORT_PROTOCOLS.has(m)));
        if (!loaded) return `unknown option "${opt}"`;
        if (!FLAG_OPTIONS.has(opt)) checkMatchOption(opt, need(), (m) => (mode = m), mode);
      }
    } catch (err) {
      if (err instanceof CheckFailure) return err.message;
      throw err;
    }
    if (opt.startsWith('-') && !FLAG_OPTIONS.has(opt) && value !== undefined && !value.startsWith('-')) i += args[i + 1] === '!' ? 2 : 1;
  }
  for (const m of ['tcp', 'udp', 'sctp']) {
    if (modules.has(m) && protocol !== m) return `${m} match: only valid for protocol ${m}`;
  }
  if (modules.has('multiport') && (protocol === undefined || !PORT_PROTOCOLS.has(protocol)))
    return "multiport needs `-p tcp', `-p udp' or `-p sctp'";
  if (modules.has('statistic') && mode === undefined) return 'statistic: no mode specified';
  if (target && NAT_TARGET_HOOKS[target] && table !== 'nat') return `${target} target is only valid in the nat table`;
  if (target === 'DNAT' && !args.includes('--to-destination')) return 'DNAT: option "--to-destination" must be specified';
  return undefined;
}

class CheckFailure extends Error {}

function checkMatchOption(opt: string, value: string, setMode: (m: string) => void, mode: string | undefined): void {
  switch (opt) {
    case '--probability': {
      const p = Number(value);
      if (mode !== 'random') throw new CheckFailure('statistic: --probability needs --mode random');
      if (!/^\d*\.?\d+$/.test(value) || p < 0 || p > 1)
        throw new CheckFailure(`statistic: --probability must be between 0 and 1, got ${value}`);
      return;
    }
    case '--every': {
      if (mode !== 'nth') throw new CheckFailure('statistic: --every needs --mode nth');
      if (!/^\d+$/.test(value) || Number(value) < 1) throw new CheckFailure(`statistic: --every must be larger than 0, got ${value}`);
      return;
    }
    case '--mode':
      if (value !== 'random' && value !== 'nth') throw new CheckFailure(`statistic: bad mode "${value}"`);
      setMode(value);
      return;
    case '--dport':
    case '--sport':
    case '--destination-port':
    case '--source-port':
      checkPortRange(value);
      return;
    case '--dports':
    case '--sports':
    case '--ports':
    case '--destination-ports':
    case '--source-ports': {
      const parts = value.split(',');
      if (parts.length > 15) throw new CheckFailure('multiport: too many ports specified');
      parts.forEach(checkPortRange);
      return;
    }
    case '--ctstate':
      for (const s of value.split(',')) if (!CT_STATES.has(s)) throw new CheckFailure(`conntrack: bad ctstate "${s}"`);
      return;
    case '--src-type':
    case '--dst-type':
      for (const s of value.split(',')) if (!ADDR_TYPES.has(s)) throw new CheckFailure(`addrtype: bad type "${s}"`);
      return;
    case '--mark':
      checkMark(value);
      return;
    default:
      return;
  }
}

function checkTargetOption(target: string, opt: string, value: string | undefined): void {
  if ((target === 'DNAT' && opt === '--to-destination') || (target === 'SNAT' && opt === '--to-source')) {
    if (value === undefined) throw new CheckFailure(`${target}: option "${opt}" requires an argument`);
    checkNatAddress(target, value);
  } else if (
    target === 'MARK' &&
    (opt === '--set-xmark' || opt === '--set-mark' || opt === '--or-mark' || opt === '--and-mark' || opt === '--xor-mark')
  ) {
    if (value === undefined) throw new CheckFailure(`MARK: option "${opt}" requires an argument`);
    checkMark(value);
  } else if ((target === 'REDIRECT' || target === 'MASQUERADE') && opt === '--to-ports') {
    if (value === undefined) throw new CheckFailure(`${target}: option "--to-ports" requires an argument`);
    for (const p of value.split('-')) checkPort(p);
  }
}

function checkAddress(value: string): void {
  const [ip, len, extra] = value.split('/');
  const family = isIP(ip ?? '');
  const lenOk = len === undefined || (/^\d+$/.test(len) && Number(len) <= (family === 6 ? 128 : 32));
  if (family === 0 || !lenOk || extra !== undefined) throw new CheckFailure(`host/network \`${value}' not found`);
}

/** `IP[:port]` or `[IPv6]:port`, as the nat targets parse it. */
function checkNatAddress(target: string, value: string): void {
  const v6 = /^\[([^\]]+)\](?::(.+))?$/.exec(value);
  const [ip, port] = v6 ? [v6[1] as string, v6[2]] : (value.split(':') as [string, string | undefined]);
  if (isIP(ip) === 0) throw new CheckFailure(`${target}: bad IP address "${value}"`);
  if (port !== undefined) for (const p of port.split('-')) checkPort(p);
}

function checkPortRange(value: string): void {
  const [lo, hi, extra] = value.split(':');
  if (extra !== undefined) throw new CheckFailure(`invalid port/service \`${value}' specified`);
  for (const p of [lo, hi]) if (p !== undefined && p !== '') checkPort(p);
  if (lo && hi && Number(lo) > Number(hi)) throw new CheckFailure(`invalid portrange (min > max) "${value}"`);
}

function checkPort(p: string): void {
  // Service names (`http`) resolve through /etc/services; only numbers are range-checked.
  if (/^\d+$/.test(p) ? Number(p) > 65535 : !/^[a-z][a-z0-9-]*$/i.test(p)) throw new CheckFailure(`invalid port/service \`${p}' specified`);
}

function checkMark(value: string): void {
  for (const part of value.split('/')) {
    const n = Number(part);
    if (part === '' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CheckFailure(`bad mark value "${value}"`);
  }
}

/**
 * Whole-table checks once the table is committed: every jump lands on a user
 * chain that exists, no chain can reach itself (the kernel refuses loops with
 * ELOOP), and a nat target is reachable only from the hooks it registers for.
 */
export function checkGraph(table: string, state: ReadonlyMap<string, Chain>): { line: number; message: string } | undefined {
  const builtins = BUILTIN_CHAINS[table] ?? [];
  for (const c of state.values()) {
    for (const r of c.rules) {
      if (!r.target || BUILTIN_TARGETS.has(r.target)) continue;
      if (builtins.includes(r.target)) return { line: r.line, message: `chain ${c.name} jumps to built-in chain ${r.target}` };
      if (!state.has(r.target)) return { line: r.line, message: `chain ${c.name} jumps to ${r.target}, which does not exist` };
    }
  }
  // Depth-first from each built-in chain: a chain met again on the current path is a loop.
  const hooksOf = new Map<string, Set<string>>();
  for (const hook of builtins) {
    const onPath = new Set<string>();
    const visit = (name: string): { line: number; message: string } | undefined => {
      const c = state.get(name);
      if (!c) return undefined;
      const hooks = hooksOf.get(name) ?? new Set<string>();
      const seen = hooks.has(hook);
      hooks.add(hook);
      hooksOf.set(name, hooks);
      if (seen) return undefined;
      onPath.add(name);
      for (const r of c.rules) {
        if (!r.target || !state.has(r.target) || builtins.includes(r.target)) continue;
        if (onPath.has(r.target)) return { line: r.line, message: `chain ${r.target} is part of a loop through ${name}` };
        const bad = visit(r.target);
        if (bad) return bad;
      }
      onPath.delete(name);
      return undefined;
    };
    const bad = visit(hook);
    if (bad) return bad;
  }
  for (const c of state.values()) {
    for (const r of c.rules) {
      const allowed = r.target ? NAT_TARGET_HOOKS[r.target] : undefined;
      if (!allowed) continue;
      const from = [...(hooksOf.get(c.name) ?? [])].find((h) => !allowed.includes(h));
      if (from) return { line: r.line, message: `${r.target} in chain ${c.name} is reachable from ${from}, where the target is not valid` };
    }
  }
  return undefined;
}
