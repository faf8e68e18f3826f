import { ValidationError } from './errors.js';

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface SelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

/**
 * A label selector as Kubernetes has it: equality (`matchLabels`, a
 * Service's or a ReplicationController's plain map) and set-based
 * requirements (a Deployment's `matchExpressions`). All must hold.
 */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: SelectorRequirement[];
}

export function matchesSelector(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, req.key);
    const value = l[req.key];
    switch (req.operator) {
      case 'In':
        if (!has || !req.values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && req.values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** An empty selector would match everything; controllers treat it as matching nothing. */
export function isEmptySelector(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
}

/**
 * The string form users type (`kubectl get pods -l …`), as the seeds
 * describe it: `name=redis-slave`, `env!=production`,
 * `name in (redis-master, redis-slave)`, `name notin (php-frontend)`,
 * `tier` (exists) and `!tier` (does not exist), comma-separated.
 */
export function parseSelector(text: string, subject = 'selector'): LabelSelector {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: SelectorRequirement[] = [];
  for (const part of splitTopLevel(text)) {
    const set = /^([A-Za-z0-9._/-]+)\s+(in|notin|not\s+in)\s*\(([^)]*)\)$/i.exec(part);
    if (set) {
      const values = (set[3] as string)
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
        .sort();
      matchExpressions.push({ key: set[1] as string, operator: /^in$/i.test(set[2] as string) ? 'In' : 'NotIn', values });
      continue;
    }
    const eq = /^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$/.exec(part);
    if (eq) {
      if (eq[2] === '!=') matchExpressions.push({ key: eq[1] as string, operator: 'NotIn', values: [eq[3] as string] });
      else matchLabels[eq[1] as string] = eq[3] as string;
      continue;
    }
    const exists = /^(!?)([A-Za-z0-9._/-]+)$/.exec(part);
    if (exists) {
      matchExpressions.push({ key: exists[2] as string, operator: exists[1] ? 'DoesNotExist' : 'Exists', values: [] });
      continue;
    }
    throw new ValidationError(
      subject,
      '',
      `${JSON.stringify(part)} is not a selector requirement (key=value, key!=value, key in (a,b), key notin (a,b), key, !key)`,
    );
  }
  const out: LabelSelector = {};
  if (Object.keys(matchLabels).length) out.matchLabels = matchLabels;
  if (matchExpressions.length) out.matchExpressions = matchExpressions;
  return out;
}

/** Splits on commas outside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter(Boolean);
}

export function formatSelector(selector: LabelSelector): string {
  const eq = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  const set = (selector.matchExpressions ?? []).map((r) => {
    switch (r.operator) {
      case 'In':
        return `${r.key} in (${r.values.join(',')})`;
      case 'NotIn':
        return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
      case 'Exists':
        return r.key;
      case 'DoesNotExist':
        return `!${r.key}`;
    }
  });
  return [...eq, ...set].join(',');
}
