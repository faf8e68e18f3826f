import { ValidationError } from './errors.js';

/** The Kubernetes object metadata keel reads and writes. */
export interface ObjectMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  creationTimestamp?: string;
  /** The etcd mod revision the object was read at; never stored. */
  resourceVersion?: string;
}

export type ResourceKind = 'Service' | 'Endpoints' | 'Pod' | 'EndpointSlice' | 'Node';

/** `service default/web`: how every message names an object. */
export function subjectOf(kind: string, namespace: string | undefined, name: string | undefined): string {
  return `${kind.toLowerCase()} ${namespace ?? 'default'}/${name ?? '<unnamed>'}`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}

/** IANA service name, as a named targetPort must be: ≤15 chars, a letter, no "--". */
export function isIanaServiceName(s: string): boolean {
  return s.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--');
}

function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  return name.length <= 63 && LABEL_NAME.test(name) && (prefix === undefined || isDnsSubdomain(prefix));
}

/**
 * A small field reader that turns "unknown JSON" into typed values and
 * reports the first problem as a ValidationError naming the field path.
 */
export class FieldReader {
  constructor(readonly subject: string) {}

  fail(field: string, reason: string): never {
    throw new ValidationError(this.subject, field, reason);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, `must be an object, got ${describe(value)}`);
    return value as Record<string, unknown>;
  }

  optionalObject(value: unknown, field: string): Record<string, unknown> | undefined {
    return value === undefined || value === null ? undefined : this.object(value, field);
  }

  array(value: unknown, field: string): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) this.fail(field, `must be a list, got ${describe(value)}`);
    return value;
  }

  string(value: unknown, field: string): string {
    if (typeof value !== 'string') this.fail(field, `must be a string, got ${describe(value)}`);
    return value;
  }

  optionalString(value: unknown, field: string): string | undefined {
    return value === undefined || value === null ? undefined : this.string(value, field);
  }

  boolean(value: unknown, field: string): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') this.fail(field, `must be true or false, got ${describe(value)}`);
    return value;
  }

  integer(value: unknown, field: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value)) this.fail(field, `must be an integer, got ${describe(value)}`);
    if (value < min || value > max) this.fail(field, `${value} is out of range ${min}-${max}`);
    return value;
  }

  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[], fallback: T): T {
    if (value === undefined || value === null || value === '') return fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(field, `${describe(value)} is not one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  stringMap(value: unknown, field: string, kind: 'labels' | 'annotations' | 'selector'): Record<string, string> | undefined {
    const obj = this.optionalObject(value, field);
    if (!obj) return undefined;
    const out: Record<string, string> = {};
    for (const key of Object.keys(obj).sort()) {
      const v = obj[key];
      if (typeof v !== 'string') this.fail(`${field}.${key}`, `must be a string, got ${describe(v)}`);
      if (kind !== 'annotations') {
        if (!isLabelKey(key)) this.fail(field, `${JSON.stringify(key)} is not a valid label key`);
        if (v.length > 63 || !LABEL_VALUE.test(v)) this.fail(`${field}.${key}`, `${JSON.stringify(v)} is not a valid label value`);
      }
      out[key] = v;
    }
    return out;
  }
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'a list' : 'an object';
}

/** How a kind's names are checked: most are DNS labels; EndpointSlices and Nodes are DNS subdomains; Nodes have no namespace. */
export interface MetaRules {
  defaultNamespace?: string;
  subdomainName?: boolean;
  clusterScoped?: boolean;
}

/** Reads metadata and checks name/namespace; returns the subject built from them. */
export function readMeta(kind: ResourceKind, raw: Record<string, unknown>, rules: MetaRules = {}): { meta: ObjectMeta; r: FieldReader } {
  const m = (typeof raw.metadata === 'object' && raw.metadata !== null ? raw.metadata : {}) as Record<string, unknown>;
  const rawName = typeof m.name === 'string' ? m.name : undefined;
  const rawNs = rules.clusterScoped
    ? ''
    : typeof m.namespace === 'string' && m.namespace !== ''
      ? m.namespace
      : (rules.defaultNamespace ?? 'default');
  const r: FieldReader = new FieldReader(
    rules.clusterScoped ? `${kind.toLowerCase()} ${rawName ?? '<unnamed>'}` : subjectOf(kind, rawNs, rawName),
  );
  r.object(raw.metadata, 'metadata');
  if (rawName === undefined || rawName === '') r.fail('metadata.name', 'is required');
  if (rules.subdomainName ? !isDnsSubdomain(rawName) : !isDnsLabel(rawName))
    r.fail(
      'metadata.name',
      rules.subdomainName
        ? `${JSON.stringify(rawName)} is not a DNS subdomain`
        : `${JSON.stringify(rawName)} is not a DNS label (lowercase letters, digits and "-", at most 63)`,
    );
  if (m.namespace !== undefined && typeof m.namespace !== 'string')
    r.fail('metadata.namespace', `must be a string, got ${describe(m.namespace)}`);
  if (!rules.clusterScoped && !isDnsLabel(rawNs)) r.fail('metadata.namespace', `${JSON.stringify(rawNs)} is not a DNS label`);
  const meta: ObjectMeta = { name: rawName, namespace: rawNs };
  const labels = r.stringMap(m.labels, 'metadata.labels', 'labels');
  if (labels) meta.labels = labels;
  const annotations = r.stringMap(m.annotations, 'metadata.annotations', 'annotations');
  if (annotations) meta.annotations = annotations;
  const uid = r.optionalString(m.uid, 'metadata.uid');
  if (uid) meta.uid = uid;
  const created = r.optionalString(m.creationTimestamp, 'metadata.creationTimestamp');
  if (created) meta.creationTimestamp = created;
  return { meta, r };
}
