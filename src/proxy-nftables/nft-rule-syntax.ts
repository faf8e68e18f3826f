import { cidrContains, parseCidr, parseIp } from '../api/ip.js';

/**
 * The slice of nft's rule and element syntax keel writes (as `nft list`
 * prints it back), read for the tracer: words, quoted strings and `{ … }`
 * groups as tokens; selectors joined by `.`; elements `key [comment "…"] [: value]`.
 */
export function nftTokens(rule: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < rule.length) {
    const c = rule[i] ?? '';
    if (c === ' ') {
      i++;
      continue;
    }
    let end = i;
    if (c === '"') end = rule.indexOf('"', i + 1) + 1 || rule.length;
    else if (c === '{') {
      let depth = 0;
      for (; end < rule.length; end++) {
        if (rule[end] === '{') depth++;
        else if (rule[end] === '}' && --depth === 0) break;
      }
      end++;
    } else while (end < rule.length && rule[end] !== ' ') end++;
    out.push(rule.slice(i, end));
    i = end;
  }
  return out;
}

export interface NftElementParts {
  readonly text: string;
  readonly key: readonly string[];
  readonly value?: string;
  readonly comment?: string;
}

/** `10.96.0.10 . tcp . 80 comment "default/web" : goto chain` → its key parts, comment and value. */
export function parseElement(text: string): NftElementParts {
  const comment = /\scomment "([^"]*)"/.exec(text);
  const bare = comment ? text.replace(comment[0], '') : text;
  // Values follow ` : `; an IPv6 address's colons have no spaces around them.
  const colon = bare.indexOf(' : ');
  const key = (colon < 0 ? bare : bare.slice(0, colon)).split(' . ').map((k) => k.trim());
  return {
    text,
    key,
    ...(colon < 0 ? {} : { value: bare.slice(colon + 3).trim() }),
    ...(comment?.[1] === undefined ? {} : { comment: comment[1] }),
  };
}

/** The elements of an anonymous set or map: `{ 0 : goto a, 1 : goto b }`. */
export function anonymousElements(group: string): NftElementParts[] {
  return group
    .replace(/^\{\s*/, '')
    .replace(/\s*\}$/, '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map(parseElement);
}

/** Selectors the tracer evaluates, by how many words each takes. */
const SELECTOR_WORDS: Readonly<Record<string, number>> = {
  ip: 2,
  ip6: 2,
  meta: 2,
  th: 2,
  tcp: 2,
  udp: 2,
  sctp: 2,
  ct: 2,
  fib: 3,
  numgen: 4,
};

/** One or more selectors joined by `.`, e.g. `ip daddr . meta l4proto . th dport`; `next` is the token after it. */
export function readExpression(tokens: readonly string[], start: number): { parts: string[][]; next: number } {
  const parts: string[][] = [];
  let i = start;
  for (;;) {
    const n = SELECTOR_WORDS[tokens[i] ?? ''];
    if (n === undefined) break;
    parts.push(tokens.slice(i, i + n) as string[]);
    i += n;
    if (tokens[i] !== '.') break;
    i++;
  }
  return { parts, next: i };
}

/** A value one selector gave: an address, a protocol name, a number, `local`; undefined never matches. */
export type NftValue = string | number | undefined;

/** Whether one element key (each part an address, CIDR, range, name or number) holds the values. */
export function keyMatches(key: readonly string[], values: readonly NftValue[]): boolean {
  return key.length === values.length && key.every((k, i) => partMatches(k, values[i]));
}

function partMatches(part: string, value: NftValue): boolean {
  if (value === undefined) return false;
  if (typeof value === 'number') {
    const range = /^(\S+)-(\S+)$/.exec(part);
    return range ? value >= Number(range[1]) && value <= Number(range[2]) : Number(part) === value;
  }
  const ip = parseIp(value);
  if (!ip) return part.toLowerCase() === value.toLowerCase();
  const cidr = parseCidr(part.includes('/') ? part : `${part}/${ip.family === 4 ? 32 : 128}`);
  return cidr !== undefined && cidrContains(cidr, ip);
}
