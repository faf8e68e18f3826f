import { mergeOutcomes, type TraceOutcome, type TracePacket } from '../proxy-iptables/trace.js';
import type { NftChain, NftTable } from './nft-table.js';
import {
  anonymousElements,
  keyMatches,
  nftTokens,
  parseElement,
  readExpression,
  type NftElementParts,
  type NftValue,
} from './nft-rule-syntax.js';

/**
 * Walks a packet through keel's nftables table as the kernel would on its
 * first packet: the base chains of each hook in priority order (prerouting
 * or output; then input, or forward and postrouting), verdict maps looked up
 * by their concatenated key, `numgen random mod N` splitting the walk into N
 * equally likely branches. Every outcome comes back with its probability in
 * the iptables tracer's shape, so `keel trace` prints both modes alike.
 * Rules are read in the syntax `nft list` prints, not from the compiler's
 * intent, so what is traced is what is loaded.
 */
export function traceNftPacket(table: NftTable, pkt: TracePacket, localIPs: readonly string[]): TraceOutcome[] {
  const ctx: Ctx = {
    chains: new Map(table.chains.map((c) => [c.name, c])),
    sets: new Map(table.sets.map((s) => [s.name, s.elements.map(parseElement)])),
    pkt,
    isLocal: (ip) => localIPs.includes(ip) || ip.startsWith('127.') || ip === '::1',
  };
  const start: State = { p: 1, dst: pkt.dst, dport: pkt.dport, mark: 0, masquerade: false, chains: [], rules: [] };
  const done: State[] = [];
  const first = runHook(ctx, pkt.from === 'host' ? 'output' : 'prerouting', [start], done);
  for (const s of first) {
    // After DNAT the route decides: a local destination is delivered (input); anything else is forwarded, then sent.
    const hooks = pkt.from === 'host' ? ['postrouting'] : ctx.isLocal(s.dst) ? ['input'] : ['forward', 'postrouting'];
    let live = [s];
    for (const hook of hooks) live = runHook(ctx, hook, live, done);
    done.push(...live.map((l) => ({ ...l, verdict: l.dnat ? `DNAT ${l.dnat}` : 'ACCEPT (no service rule)' })));
  }
  return mergeOutcomes(
    done.map((s) => ({ probability: s.p, verdict: s.verdict ?? '', masquerade: s.masquerade, chains: s.chains, rules: s.rules })),
  );
}

interface Ctx {
  readonly chains: ReadonlyMap<string, NftChain>;
  readonly sets: ReadonlyMap<string, readonly NftElementParts[]>;
  readonly pkt: TracePacket;
  readonly isLocal: (ip: string) => boolean;
}

interface State {
  /** The share of all packets on this branch. */
  readonly p: number;
  readonly dst: string;
  readonly dport: number;
  readonly mark: number;
  readonly masquerade: boolean;
  readonly dnat?: string;
  readonly chains: readonly string[];
  readonly rules: readonly string[];
  /** Set once the packet is refused: `REJECT: default/empty`, `DROP: default/lb`. */
  readonly verdict?: string;
  /** The last comment on the way (an element's or a rule's): why a packet was refused. */
  readonly why?: string;
}

/** How a chain or rule was left: go on with the next rule, return to the caller, accepted for this hook, or refused. */
type Exit = { s: State; how: 'continue' | 'return' | 'accept' | 'refused' };

/** Every base chain of the hook by priority: an accept ends one base chain, a refusal the packet (into `refused`). */
function runHook(ctx: Ctx, hook: string, states: readonly State[], refused: State[]): State[] {
  const prio = (c: NftChain): number => c.base?.priority ?? 0;
  const bases = [...ctx.chains.values()].filter((c) => c.base?.hook === hook).sort((a, b) => prio(a) - prio(b));
  let live = [...states];
  for (const base of bases) {
    const next: State[] = [];
    for (const s of live) for (const e of runChain(ctx, base, s, 0)) (e.how === 'refused' ? refused : next).push(e.s);
    live = next;
  }
  return live;
}

function runChain(ctx: Ctx, chain: NftChain, entry: State, depth: number): Exit[] {
  if (depth > 32) return [{ s: entry, how: 'return' }];
  const exits: Exit[] = [];
  let live: State[] = [entry];
  for (const rule of chain.rules) {
    const next: State[] = [];
    for (const s of live)
      for (const e of runRule(ctx, chain, rule, s, depth)) {
        if (e.how === 'continue') next.push(e.s);
        else exits.push(e);
      }
    live = mergeStates(next);
  }
  return [...exits, ...live.map((s) => ({ s, how: 'return' as const }))];
}

/** Branches that reached the same state are one branch with their shares summed (draws that missed a slot, retried). */
function mergeStates(states: readonly State[]): State[] {
  const byContent = new Map<string, State>();
  for (const s of states) {
    const k = JSON.stringify({ ...s, p: 0 });
    const had = byContent.get(k);
    byContent.set(k, had ? { ...had, p: had.p + s.p } : s);
  }
  return [...byContent.values()];
}

/**
 * One rule, left to right: each match narrows the branches (numgen splits
 * them), and the share that fails goes on to the next rule; statements change
 * the packet; a verdict ends the rule. Words the tracer does not model
 * (counter, log) are passed over.
 */
function runRule(ctx: Ctx, chain: NftChain, rule: string, entry: State, depth: number): Exit[] {
  const t = nftTokens(rule);
  // The path names the chains where something happened; a base chain, or a rule that only returns, says nothing.
  const shown = !chain.base && t.at(-1) !== 'return' && !entry.chains.includes(chain.name);
  const ruleComment = t.includes('comment') ? unquote(t[t.indexOf('comment') + 1] ?? '') : undefined;
  const hit = (s: State, extra?: string): State => ({
    ...s,
    chains: shown ? [...s.chains, chain.name] : s.chains,
    rules: [...s.rules, `${chain.name}: ${rule}`, ...(extra ? [`    ${extra}`] : [])],
    ...(ruleComment ? { why: ruleComment } : {}),
  });
  const out: Exit[] = [];
  let live: State[] = [entry];
  let i = 0;
  const peek = (k = 0): string => t[i + k] ?? '';
  while (i < t.length && live.length) {
    const word = peek();
    if (word === 'comment') i += 2;
    else if (word === 'counter') i++;
    else if (['jump', 'goto', 'return', 'accept', 'drop', 'reject'].includes(word)) {
      const verdict = word === 'jump' || word === 'goto' ? [word, peek(1)] : [word];
      for (const s of live) out.push(...applyVerdict(ctx, verdict, hit(s), depth));
      return out;
    } else if (word === 'masquerade') {
      return [...out, ...live.map((s) => ({ s: { ...hit(s), masquerade: true }, how: 'accept' as const }))];
    } else if (word === 'update' || word === 'add') {
      i += 3; // affinity: written for later packets, the first one is not affected
    } else if (word === 'meta' && peek(1) === 'mark' && peek(2) === 'set') {
      const op = peek(5);
      const v = Number(op === '|' || op === '^' ? peek(6) : peek(3));
      live = live.map((s) => ({ ...s, mark: (op === '|' ? s.mark | v : op === '^' ? s.mark ^ v : v) >>> 0 }));
      i += op === '|' || op === '^' ? 7 : 4;
    } else if (word === 'dnat') {
      i++;
      while (['ip', 'ip6', 'addr', '.', 'port', 'to'].includes(peek())) i++;
      for (const s of live) {
        const { hits, missed } = dnatTargets(ctx, t, i, s);
        for (const d of hits) out.push({ s: hit(d), how: 'accept' });
        // A map lookup that finds no element (an empty endpoint slot) fails the rule: that share goes on to the next one.
        if (missed > 0) out.push({ s: { ...s, p: missed }, how: 'continue' });
      }
      return out;
    } else {
      const expr = readExpression(t, i);
      if (!expr.parts.length) return [...out, ...live.map((s) => ({ s, how: 'continue' as const }))];
      i = expr.next;
      if (peek() === 'vmap') {
        const elements = elementsOf(ctx, peek(1));
        for (const s of live)
          for (const k of evaluate(ctx, expr.parts, s)) {
            const e = elements.find((el) => keyMatches(el.key, k.values));
            const b = { ...s, p: s.p * k.p };
            if (!e) out.push({ s: b, how: 'continue' });
            else
              out.push(
                ...applyVerdict(
                  ctx,
                  (e.value ?? 'accept').split(' '),
                  { ...hit(b, e.text), ...(e.comment ? { why: e.comment } : {}) },
                  depth,
                ),
              );
          }
        return out;
      }
      const m = readComparison(t, i);
      i = m.next;
      const wanted = m.operand.startsWith('@') || m.operand.startsWith('{') ? elementsOf(ctx, m.operand) : [parseElement(m.operand)];
      const next: State[] = [];
      for (const s of live)
        for (const k of evaluate(ctx, expr.parts, s)) {
          const values = m.mask === undefined ? k.values : k.values.map((v) => (Number(v) & (m.mask ?? 0)) >>> 0);
          const b = { ...s, p: s.p * k.p };
          if (wanted.some((e) => keyMatches(e.key, values)) !== m.negate) next.push(b);
          else out.push({ s: b, how: 'continue' }); // the share that fails a match goes on to the next rule
        }
      live = next;
    }
  }
  return [...out, ...live.map((s) => ({ s: hit(s), how: 'continue' as const }))];
}

/** `[& MASK] [==|!=] OPERAND` after an expression. */
function readComparison(t: readonly string[], start: number): { mask?: number; negate: boolean; operand: string; next: number } {
  let i = start;
  let mask: number | undefined;
  if (t[i] === '&') {
    mask = Number(t[i + 1]);
    i += 2;
  }
  const negate = t[i] === '!=';
  if (t[i] === '!=' || t[i] === '==') i++;
  return { ...(mask === undefined ? {} : { mask }), negate, operand: t[i] ?? '', next: i + 1 };
}

/** The values of a (concatenated) expression with their probabilities: one for most selectors, N for numgen. */
function evaluate(ctx: Ctx, parts: readonly (readonly string[])[], s: State): { values: NftValue[]; p: number }[] {
  let out: { values: NftValue[]; p: number }[] = [{ values: [], p: 1 }];
  for (const part of parts) {
    const options = selectorValues(ctx, part, s);
    out = out.flatMap((o) => options.map((v) => ({ values: [...o.values, v.value], p: o.p * v.p })));
  }
  return out;
}

function selectorValues(ctx: Ctx, part: readonly string[], s: State): { value: NftValue; p: number }[] {
  const [a, b] = part;
  const { pkt } = ctx;
  const one = (value: NftValue): { value: NftValue; p: number }[] => [{ value, p: 1 }];
  const family = pkt.dst.includes(':') ? 'ip6' : 'ip';
  switch (a) {
    case 'ip':
    case 'ip6':
      return one(a !== family ? undefined : b === 'saddr' ? pkt.src : b === 'daddr' ? s.dst : undefined);
    case 'meta':
      return one(b === 'l4proto' ? pkt.protocol : b === 'mark' ? s.mark : undefined);
    case 'th':
      return one(b === 'dport' ? s.dport : undefined);
    case 'tcp':
    case 'udp':
    case 'sctp':
      return one(a === pkt.protocol && b === 'dport' ? s.dport : undefined);
    case 'ct':
      return one(b === 'state' ? 'new' : b === 'status' && s.dnat ? 'dnat' : undefined);
    case 'fib': {
      const local = b === 'saddr' ? pkt.from === 'host' || ctx.isLocal(pkt.src) : ctx.isLocal(s.dst);
      return one(local ? 'local' : 'unicast');
    }
    case 'numgen': {
      const n = Number(part[3]);
      return Array.from({ length: n }, (_, k) => ({ value: k, p: 1 / n }));
    }
    default:
      return one(undefined);
  }
}

/** A named set's or map's elements (`@name`) or an anonymous one's (`{ … }`). */
function elementsOf(ctx: Ctx, operand: string): readonly NftElementParts[] {
  return operand.startsWith('@') ? (ctx.sets.get(operand.slice(1)) ?? []) : anonymousElements(operand);
}

/**
 * `dnat to 10.244.1.5:8080`, `dnat to [fd00::5]:80`, or `dnat ip to EXPR map @m` whose values are `addr . port` or `addr`;
 * `missed` is the share whose key the map lacks.
 */
function dnatTargets(ctx: Ctx, t: readonly string[], i: number, s: State): { hits: State[]; missed: number } {
  const to = (addr: string, port: string | undefined, p: number): State => {
    const dport = port ? Number(port) : s.dport;
    const text = addr.includes(':') ? `[${addr}]:${dport}` : `${addr}:${dport}`;
    return { ...s, p: s.p * p, dst: addr, dport, dnat: text };
  };
  const expr = readExpression(t, i);
  if (!expr.parts.length) {
    const lit = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(t[i] ?? '');
    return { hits: lit?.[1] ? [to(lit[1], lit[2], 1)] : [], missed: 0 };
  }
  if (t[expr.next] !== 'map') return { hits: [], missed: 0 };
  const elements = elementsOf(ctx, t[expr.next + 1] ?? '');
  const hits: State[] = [];
  let missed = 0;
  for (const k of evaluate(ctx, expr.parts, s)) {
    const e = elements.find((el) => keyMatches(el.key, k.values));
    const [addr, port] = (e?.value ?? '').split(' . ');
    if (addr) hits.push(to(addr, port, k.p));
    else missed += s.p * k.p;
  }
  return { hits, missed };
}

function applyVerdict(ctx: Ctx, verdict: readonly string[], s: State, depth: number): Exit[] {
  const [word, target] = verdict;
  if (word === 'accept') return [{ s, how: 'accept' }];
  if (word === 'return') return [{ s, how: 'return' }];
  if (word === 'drop' || word === 'reject')
    return [{ s: { ...s, verdict: `${word.toUpperCase()}${s.why ? `: ${s.why}` : ''}` }, how: 'refused' }];
  const chain = target === undefined ? undefined : ctx.chains.get(target);
  if (!chain) return [{ s, how: 'continue' }];
  // After a jump the caller goes on with its next rule; after a goto the caller is left as if it returned.
  return runChain(ctx, chain, s, depth + 1).map((e) => (e.how === 'return' ? { s: e.s, how: word === 'jump' ? 'continue' : 'return' } : e));
}

function unquote(text: string): string {
  return text.replace(/^"|"$/g, '');
}
