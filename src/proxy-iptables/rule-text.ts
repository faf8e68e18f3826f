import type { Protocol } from '../api/service.js';

/**
 * Rule text in the exact form iptables-save prints it back (match order,
 * quoting, 11-digit probabilities, MARK as --set-xmark), so comparing what
 * the kernel holds with what keel wants is a string comparison.
 */
export type Token = string | false | undefined;

export function rule(...tokens: Token[]): string {
  // Compiler tokens are addresses, numbers, flags and chain names (no spaces
  // or quotes); only comments need quoting, and they are sanitized first.
  const parts: string[] = [];
  let prev: Token;
  for (const t of tokens) {
    if (typeof t !== 'string') continue;
    parts.push(prev === '--comment' ? cat('"', t, '"') : t);
    prev = t;
  }
  return parts.join(' ');
}

/**
 * Joins into one flat string. `+` and template literals build V8 rope
 * (cons) strings, and the agent keeps every rule of every service between
 * syncs: at 10k services the ropes' nodes held about half of the
 * compiled rules' memory.
 */
export function cat(...parts: string[]): string {
  return parts.join('');
}

/**
 * Comments come from object names; names are validated DNS labels, but a
 * comment must never break iptables-restore, so anything outside a safe set
 * becomes "_" and the length stays under xt_comment's 256 bytes.
 */
export function sanitizeComment(text: string): string {
  return text.replace(/[^A-Za-z0-9 _./:,;>=+-]/g, '_').slice(0, 255);
}

export function comment(text: string): Token[] {
  return ['-m', 'comment', '--comment', sanitizeComment(text)];
}

export function proto(p: Protocol): string {
  return p.toLowerCase();
}

/** `-p tcp` … `-m tcp --dport N` as two halves, because the comment sits between them. */
export function dport(p: Protocol, port: number): Token[] {
  return ['-m', proto(p), '--dport', String(port)];
}

/**
 * xt_statistic keeps the probability as round(p × 2^31) and prints it back
 * with 11 decimals; render the value the kernel will report.
 */
export function probability(n: number): string {
  let text = probabilities[n];
  if (text === undefined) {
    const stored = Math.round((1 / n) * 0x80000000);
    text = (stored / 0x80000000).toFixed(11);
    if (n < 1024) probabilities[n] = text;
  }
  return text;
}

const probabilities: string[] = [];

export function markHex(bit: number): string {
  return `0x${(1 << bit).toString(16)}`;
}

export function hostCidr(ip: string): string {
  return cat(ip, ip.includes(':') ? '/128' : '/32');
}
