import { cidrContains, parseCidr, parseIp } from '../api/ip.js';
import { renderArgs, tablesOf, type Chain, type Rule } from '../kernel/iptables/parse-restore.js';

/**
 * Walks a packet through rules as iptables would, from the same restore
 * text the applier loads (parsed back with the same parser), and returns
 * every possible outcome with its probability: random-statistic rules
 * split the walk in two.
 */
export interface TracePacket {
  readonly src: string;
  readonly dst: string;
  readonly dport: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  /** pod → PREROUTING, external → PREROUTING, host → OUTPUT. */
  readonly from: 'pod' | 'host' | 'external';
}

export interface TraceOutcome {
  readonly probability: number;
  /** `DNAT 10.244.1.5:80`, `REJECT: default/web has no endpoints`, `ACCEPT (no service rule)`. */
  readonly verdict: string;
  readonly masquerade: boolean;
  /** Chains entered, in order. */
  readonly chains: readonly string[];
  /** Every rule that matched, as `-A CHAIN …`. */
  readonly rules: readonly string[];
}

interface State {
  readonly p: number;
  readonly dst: string;
  readonly dport: number;
  readonly mark: number;
  readonly chains: readonly string[];
  readonly rules: readonly string[];
  readonly verdict?: string | undefined;
  readonly returned?: boolean;
}

type Tables = Map<string, Map<string, Chain>>;

export function tracePacket(restoreText: string, pkt: TracePacket, localIPs: readonly string[]): TraceOutcome[] {
  const tables = tablesOf(restoreText);
  const isLocal = (ip: string): boolean => localIPs.includes(ip) || ip.startsWith('127.');
  const start: State = { p: 1, dst: pkt.dst, dport: pkt.dport, mark: 0, chains: [], rules: [] };
  const natEntry = pkt.from === 'host' ? 'OUTPUT' : 'PREROUTING';
  const out: TraceOutcome[] = [];
  for (const n of runChain(tables, 'nat', natEntry, start, pkt, isLocal, 0)) {
    const afterNat: State = { ...n, verdict: n.verdict?.startsWith('DNAT') ? n.verdict : undefined, returned: false };
    const filterEntry = pkt.from === 'host' ? 'OUTPUT' : isLocal(afterNat.dst) ? 'INPUT' : 'FORWARD';
    for (const f of runChain(tables, 'filter', filterEntry, afterNat, pkt, isLocal, 0)) {
      const filterVerdict = f.verdict && !f.verdict.startsWith('DNAT') && f.verdict !== 'ACCEPT' ? f.verdict : undefined;
      out.push({
        probability: f.p,
        verdict: filterVerdict ?? n.verdict ?? 'ACCEPT (no service rule)',
        masquerade: (f.mark & 0x4000) !== 0 || (n.mark & 0x4000) !== 0,
        chains: f.chains,
        rules: f.rules,
      });
    }
  }
  return mergeOutcomes(out);
}

function runChain(
  tables: Tables,
  table: string,
  name: string,
  entry: State,
  pkt: TracePacket,
  isLocal: (ip: string) => boolean,
  depth: number,
): State[] {
  const chain = tables.get(table)?.get(name);
  const enter = { ...entry, chains: [...entry.chains, `${table}/${name}`] };
  if (!chain || depth > 32) return [enter];
  const done: State[] = [];
  let live: State[] = [enter];
  for (const rule of chain.rules) {
    const next: State[] = [];
    for (const s of live) {
      const m = matchProbability(rule, s, pkt, isLocal);
      if (m < 1) next.push({ ...s, p: s.p * (1 - m) });
      if (m === 0) continue;
      const hit: State = { ...s, p: s.p * m, rules: [...s.rules, `-A ${name} ${renderArgs(rule.args)}`] };
      const target = rule.target;
      if (!target) next.push(hit);
      else if (tables.get(table)?.has(target)) {
        for (const r of runChain(tables, table, target, hit, pkt, isLocal, depth + 1))
          (r.verdict ? done : next).push({ ...r, returned: false });
      } else if (target === 'MARK') next.push({ ...hit, mark: applyMark(rule, hit.mark) });
      else if (target === 'RETURN') done.push({ ...hit, returned: true });
      else if (target === 'DNAT') {
        const to = option(rule, '--to-destination') ?? '';
        const [ip, port] = to.split(':');
        done.push({ ...hit, dst: ip ?? hit.dst, dport: port ? Number(port) : hit.dport, verdict: `DNAT ${to}` });
      } else {
        const why = option(rule, '--comment');
        done.push({ ...hit, verdict: target === 'REJECT' || target === 'DROP' ? `${target}${why ? `: ${why}` : ''}` : target });
      }
    }
    live = next;
  }
  // RETURN and falling off the end both hand the packet back to the caller.
  return [...done.filter((d) => !d.returned), ...live, ...done.filter((d) => d.returned).map((d) => ({ ...d, returned: false }))];
}

function option(rule: Rule, flag: string): string | undefined {
  const i = rule.args.indexOf(flag);
  return i >= 0 ? rule.args[i + 1] : undefined;
}

/** 1 when the rule matches, 0 when not, the statistic probability when it is random. */
function matchProbability(rule: Rule, s: State, pkt: TracePacket, isLocal: (ip: string) => boolean): number {
  const a = rule.args;
  let p = 1;
  for (let i = 0; i < a.length; i++) {
    const neg = a[i - 1] === '!';
    const v = a[i + 1] ?? '';
    let ok: boolean | undefined;
    switch (a[i]) {
      case '-s':
        ok = inCidr(pkt.src, v);
        break;
      case '-d':
        ok = inCidr(s.dst, v);
        break;
      case '-p':
        ok = v === pkt.protocol;
        break;
      case '--dport':
        ok = Number(v) === s.dport;
        break;
      case '--dst-type':
        ok = v === 'LOCAL' && isLocal(s.dst);
        break;
      case '--src-type':
        ok = v === 'LOCAL' && (pkt.from === 'host' || isLocal(pkt.src));
        break;
      case '--ctstate':
        ok = v.split(',').includes('NEW');
        break;
      case '--rcheck':
        ok = false;
        break; // affinity: a first packet has no recent entry
      case '--mark': {
        const [val, mask] = v.split('/').map((x) => Number(x));
        ok = (s.mark & (mask ?? 0xffffffff)) === (val ?? 0);
        break;
      }
      case '--probability':
        p *= Number(v);
        break;
      default:
        break; // values, targets and options the tracer does not model match every packet
    }
    if (ok !== undefined && ok === neg) return 0;
  }
  return p;
}

function inCidr(ip: string, text: string): boolean {
  const cidr = parseCidr(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`);
  const addr = parseIp(ip);
  return cidr !== undefined && addr !== undefined && cidrContains(cidr, addr);
}

function applyMark(rule: Rule, mark: number): number {
  const [val, mask] = (option(rule, '--set-xmark') ?? '0/0').split('/').map((x) => Number(x));
  return ((mark & ~(mask ?? 0)) ^ (val ?? 0)) >>> 0;
}

/** Outcomes with the same key are one outcome, their shares summed. */
function sumShares(outcomes: readonly TraceOutcome[], keyOf: (o: TraceOutcome) => string): TraceOutcome[] {
  const by = new Map<string, TraceOutcome>();
  for (const o of outcomes) {
    const key = keyOf(o);
    const prev = by.get(key);
    by.set(key, prev ? { ...prev, probability: prev.probability + o.probability } : o);
  }
  return [...by.values()];
}

/** Outcomes reached along the same rules are one outcome; largest first. */
export function mergeOutcomes(outcomes: TraceOutcome[]): TraceOutcome[] {
  return sumShares(outcomes, (o) => `${o.verdict}|${o.masquerade}|${o.rules.join('\n')}`)
    .filter((o) => o.probability > 1e-12)
    .sort((x, y) => y.probability - x.probability || (x.verdict < y.verdict ? -1 : 1));
}

/**
 * Outcomes as shown without their rules: branches that differ only in the rules they matched
 * (nftables' numgen retries landing on the same endpoint) are one outcome, their shares summed.
 */
export function byShownOutcome(outcomes: readonly TraceOutcome[]): TraceOutcome[] {
  return sumShares(outcomes, (o) => `${o.verdict}|${o.masquerade}|${o.chains.join(' ')}`).sort((x, y) => y.probability - x.probability);
}

export function formatTrace(outcomes: readonly TraceOutcome[], verbose: boolean): string {
  const lines: string[] = [];
  for (const o of verbose ? outcomes : byShownOutcome(outcomes)) {
    const via = o.chains.filter((c) => !/\/(PREROUTING|OUTPUT|INPUT|FORWARD|POSTROUTING)$/.test(c)).join(' → ');
    lines.push(`${o.verdict} p=${o.probability.toFixed(3)}${o.masquerade ? ' masquerade' : ''}${via ? ` via ${via}` : ''}`);
    if (verbose) for (const r of o.rules) lines.push(`    ${r}`);
  }
  return `${lines.join('\n')}\n`;
}
