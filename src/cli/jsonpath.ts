import { UsageError } from '../api/errors.js';

/**
 * kubectl's JSONPath templates (`-o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'`):
 * literal text, `{path}` actions, `{range path}…{end}` and quoted literals.
 * Paths: `.field`, `['field.with.dots']`, `[n]` (negative from the end),
 * `[start:end]`, `[*]` / `.*`, `..field` (recursive) and filters
 * `[?(@.a.b == "x")]` with ==, !=, <, <=, >, >= or bare existence.
 * Written here rather than taken from jsonpath-plus: kubectl's templates are
 * not JSONPath queries (text, range/end and literals around the paths), and
 * printing follows client-go — values of one action joined by a space, maps
 * and lists as compact JSON, missing keys print nothing.
 */
export type Template = TemplateNode[];

type TemplateNode = { type: 'text'; text: string } | { type: 'path'; path: Step[] } | { type: 'range'; path: Step[]; body: TemplateNode[] };

type Step =
  | { type: 'field'; name: string }
  | { type: 'wildcard' }
  | { type: 'recursive' }
  | { type: 'index'; index: number }
  | { type: 'slice'; start: number | undefined; end: number | undefined }
  | { type: 'filter'; left: Step[]; op: FilterOp | undefined; right: Step[] | Literal | undefined };

type FilterOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
type Literal = { value: string | number | boolean | null };

export function parseTemplate(text: string): Template {
  const stack: { body: TemplateNode[] }[] = [{ body: [] }];
  let i = 0;
  const top = (): TemplateNode[] => (stack[stack.length - 1] as { body: TemplateNode[] }).body;
  while (i < text.length) {
    const open = text.indexOf('{', i);
    if (open < 0) {
      top().push({ type: 'text', text: text.slice(i) });
      break;
    }
    if (open > i) top().push({ type: 'text', text: text.slice(i, open) });
    const close = findClose(text, open);
    const action = text.slice(open + 1, close).trim();
    i = close + 1;
    if (action === 'end') {
      if (stack.length === 1) throw bad(text, 'not in range, nothing to end');
      stack.pop();
    } else if (/^range\s/.test(action)) {
      const node: TemplateNode = { type: 'range', path: parsePath(action.slice(6).trim(), text), body: [] };
      top().push(node);
      stack.push(node);
    } else if (action.startsWith('"')) {
      top().push({ type: 'text', text: unquote(action, text) });
    } else {
      top().push({ type: 'path', path: parsePath(action, text) });
    }
  }
  if (stack.length > 1) throw bad(text, 'range without end');
  return (stack[0] as { body: TemplateNode[] }).body;
}

/** Prints the template against one JSON value as kubectl does. */
export function executeTemplate(template: Template, data: unknown): string {
  let out = '';
  for (const node of template) {
    if (node.type === 'text') out += node.text;
    else if (node.type === 'path') out += evaluate(node.path, data).map(toText).join(' ');
    else for (const item of evaluate(node.path, data)) out += executeTemplate(node.body, item);
  }
  return out;
}

function toText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

function evaluate(path: Step[], root: unknown): unknown[] {
  let cur: unknown[] = [root];
  for (const step of path) cur = cur.flatMap((v) => apply(step, v));
  return cur;
}

function apply(step: Step, v: unknown): unknown[] {
  switch (step.type) {
    case 'field':
      return isRecord(v) && Object.hasOwn(v, step.name) && v[step.name] !== undefined ? [v[step.name]] : [];
    case 'wildcard':
      return Array.isArray(v) ? v : isRecord(v) ? Object.values(v) : [];
    case 'recursive':
      return descendants(v);
    case 'index': {
      if (!Array.isArray(v)) return [];
      const i = step.index < 0 ? v.length + step.index : step.index;
      return i >= 0 && i < v.length ? [v[i]] : [];
    }
    case 'slice':
      return Array.isArray(v) ? v.slice(step.start, step.end) : [];
    case 'filter': {
      const items = Array.isArray(v) ? v : [];
      return items.filter((item) => matches(step, item));
    }
  }
}

function descendants(v: unknown): unknown[] {
  const out: unknown[] = [v];
  const children = Array.isArray(v) ? v : isRecord(v) ? Object.values(v) : [];
  for (const c of children) out.push(...descendants(c));
  return out;
}

function matches(f: Extract<Step, { type: 'filter' }>, item: unknown): boolean {
  const left = evaluate(f.left, item);
  if (!f.op || f.right === undefined) return left.length > 0;
  const right = Array.isArray(f.right) ? evaluate(f.right, item) : [f.right.value];
  if (left.length === 0 || right.length === 0) return false;
  const [a, b] = [left[0], right[0]];
  switch (f.op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return (a as number) < (b as number);
    case '<=':
      return (a as number) <= (b as number);
    case '>':
      return (a as number) > (b as number);
    case '>=':
      return (a as number) >= (b as number);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parsePath(src: string, template: string): Step[] {
  let s = src;
  if (s.startsWith('$')) s = s.slice(1);
  else if (s.startsWith('@')) s = s.slice(1);
  const steps: Step[] = [];
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('..', i)) {
      steps.push({ type: 'recursive' });
      i += 1;
      continue;
    }
    const c = s[i];
    if (c === '.') {
      const m = /^[A-Za-z0-9_\-/*]*/.exec(s.slice(i + 1)) as RegExpExecArray;
      const name = m[0];
      i += 1 + name.length;
      if (name === '*') steps.push({ type: 'wildcard' });
      else if (name) steps.push({ type: 'field', name });
      continue;
    }
    if (c === '[') {
      const close = matchingBracket(s, i, template);
      steps.push(parseBracket(s.slice(i + 1, close).trim(), template));
      i = close + 1;
      continue;
    }
    throw bad(template, `unexpected ${JSON.stringify(s.slice(i))} in ${JSON.stringify(src)}`);
  }
  return steps;
}

function parseBracket(inner: string, template: string): Step {
  if (inner === '*') return { type: 'wildcard' };
  const quoted = /^'([^']*)'$|^"([^"]*)"$/.exec(inner);
  if (quoted) return { type: 'field', name: quoted[1] ?? quoted[2] ?? '' };
  if (/^-?\d+$/.test(inner)) return { type: 'index', index: Number(inner) };
  const slice = /^(-?\d*):(-?\d*)$/.exec(inner);
  if (slice) return { type: 'slice', start: slice[1] ? Number(slice[1]) : undefined, end: slice[2] ? Number(slice[2]) : undefined };
  const filter = /^\?\((.*)\)$/.exec(inner);
  if (filter) {
    const m = /^(@[^=!<>\s]*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+))?$/.exec((filter[1] as string).trim());
    if (!m) throw bad(template, `unsupported filter ${JSON.stringify(inner)}`);
    const right = m[3]?.trim();
    return {
      type: 'filter',
      left: parsePath(m[1] as string, template),
      op: m[2] as FilterOp | undefined,
      right: right === undefined ? undefined : right.startsWith('@') ? parsePath(right, template) : literal(right, template),
    };
  }
  throw bad(template, `unsupported subscript [${inner}]`);
}

function literal(text: string, template: string): Literal {
  if (/^".*"$|^'.*'$/.test(text)) return { value: text.slice(1, -1) };
  if (text === 'true' || text === 'false') return { value: text === 'true' };
  if (text === 'nil' || text === 'null') return { value: null };
  const n = Number(text);
  if (Number.isNaN(n)) throw bad(template, `${JSON.stringify(text)} is not a literal`);
  return { value: n };
}

function findClose(text: string, open: number): number {
  let quote = false;
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i];
    if (quote && c === '\\') i++;
    else if (c === '"') quote = !quote;
    else if (c === '}' && !quote) return i;
  }
  throw bad(text, 'unclosed action');
}

function matchingBracket(s: string, open: number, template: string): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '[') depth++;
    if (s[i] === ']' && --depth === 0) return i;
  }
  throw bad(template, 'unterminated [');
}

function unquote(action: string, template: string): string {
  try {
    return JSON.parse(action) as string;
  } catch {
    throw bad(template, `bad quoted text ${action}`);
  }
}

function bad(template: string, why: string): UsageError {
  return new UsageError(`error parsing jsonpath ${template}: ${why}`);
}
