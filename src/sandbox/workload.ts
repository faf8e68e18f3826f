import { DecodeError, ValidationError, isKeelError } from '../api/errors.js';
import { readMeta, subjectOf, type ObjectMeta } from '../api/meta.js';
import { validatePod, type PodSpec } from '../api/pod.js';
import { matchesSelector, type LabelSelector, type SelectorOperator } from '../api/label-selector.js';

/**
 * ReplicationController and Deployment: kinds keel's object model does
 * not serve (agents never read them), which the sandbox's controller
 * turns into Pods. Stored as JSON at kube-apiserver's keys
 * (`/registry/controllers/…`, `/registry/deployments/…`).
 */
export const WORKLOAD_KINDS = {
  ReplicationController: {
    registryPath: 'controllers',
    apiVersions: ['v1'],
    aliases: ['replicationcontrollers', 'replicationcontroller', 'rc'],
  },
  // The seeds write `apiVersion: v1` for a Deployment too; accept what they wrote.
  Deployment: {
    registryPath: 'deployments',
    apiVersions: ['apps/v1', 'apps/v1beta2', 'apps/v1beta1', 'extensions/v1beta1', 'v1'],
    aliases: ['deployments', 'deployment', 'deploy'],
  },
} as const;

export type WorkloadKind = keyof typeof WORKLOAD_KINDS;

export interface Workload {
  apiVersion: string;
  kind: WorkloadKind;
  metadata: ObjectMeta;
  spec: {
    replicas: number;
    selector: LabelSelector;
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

export function isWorkloadValue(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && Object.hasOwn(WORKLOAD_KINDS, (raw as { kind?: unknown }).kind as string);
}

export function workloadKey(prefix: string, kind: WorkloadKind, namespace: string, name: string): string {
  return `${prefix}/${WORKLOAD_KINDS[kind].registryPath}/${namespace}/${name}`;
}

export function validateWorkload(raw: unknown, where = 'input'): Workload {
  if (!isWorkloadValue(raw)) throw new DecodeError(where, 'expected a ReplicationController or Deployment');
  const o = raw as Record<string, unknown>;
  const kind = o.kind as WorkloadKind;
  // readMeta only uses the kind to name the object in messages.
  const { meta, r } = readMeta(kind as unknown as 'Pod', o);
  const subject = subjectOf(kind, meta.namespace, meta.name);
  const fail = (field: string, reason: string): never => {
    throw new ValidationError(subject, field, reason);
  };
  if (!(WORKLOAD_KINDS[kind].apiVersions as readonly string[]).includes(o.apiVersion as string)) {
    fail('apiVersion', `${JSON.stringify(o.apiVersion)} is not served for ${kind} (use ${WORKLOAD_KINDS[kind].apiVersions[0]})`);
  }
  const spec = r.object(o.spec ?? {}, 'spec');
  const replicas = spec.replicas === undefined ? 1 : r.integer(spec.replicas, 'spec.replicas', 0, 100);
  const template = r.object(spec.template, 'spec.template');
  const tmeta = r.optionalObject(template.metadata, 'spec.template.metadata') ?? {};
  const labels = r.stringMap(tmeta.labels, 'spec.template.metadata.labels', 'labels') ?? {};
  if (Object.keys(labels).length === 0)
    fail('spec.template.metadata.labels', 'at least one label is required (the selector matches pods by them)');
  let podSpec: PodSpec;
  try {
    podSpec = validatePod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: meta.name, namespace: meta.namespace, labels },
      spec: template.spec,
    }).spec;
  } catch (err) {
    if (err instanceof ValidationError) fail(`spec.template.${err.field}`, err.reason);
    throw err;
  }
  const selector = readSelector(r, kind, spec.selector, labels);
  if (!matchesSelector(selector, labels)) fail('spec.selector', 'does not match spec.template.metadata.labels');
  return {
    apiVersion: o.apiVersion as string,
    kind,
    metadata: meta,
    spec: { replicas, selector, template: { metadata: { labels }, spec: podSpec } },
  };
}

/** An RC's selector is a plain map, a Deployment's a LabelSelector; both default to the template's labels. */
function readSelector(
  r: ReturnType<typeof readMeta>['r'],
  kind: WorkloadKind,
  value: unknown,
  labels: Record<string, string>,
): LabelSelector {
  if (value === undefined || value === null) return { matchLabels: labels };
  const isLabelSelector = typeof value === 'object' && ('matchLabels' in value || 'matchExpressions' in value);
  // Stored RCs hold the normalised LabelSelector form; manifests hold the plain map.
  if (kind === 'ReplicationController' && !isLabelSelector)
    return { matchLabels: r.stringMap(value, 'spec.selector', 'selector') ?? labels };
  const s = r.object(value, 'spec.selector');
  const out: LabelSelector = {};
  const matchLabels = r.stringMap(s.matchLabels, 'spec.selector.matchLabels', 'selector');
  if (matchLabels) out.matchLabels = matchLabels;
  const exprs = r.array(s.matchExpressions, 'spec.selector.matchExpressions').map((v, i) => {
    const f = `spec.selector.matchExpressions[${i}]`;
    const e = r.object(v, f);
    const operator = r.oneOf<SelectorOperator | ''>(e.operator, `${f}.operator`, ['In', 'NotIn', 'Exists', 'DoesNotExist'], '');
    if (!operator) r.fail(`${f}.operator`, 'is required');
    const values = r.array(e.values, `${f}.values`).map((x, j) => r.string(x, `${f}.values[${j}]`));
    if ((operator === 'In' || operator === 'NotIn') && values.length === 0) r.fail(`${f}.values`, `must not be empty for ${operator}`);
    return { key: r.string(e.key, `${f}.key`), operator, values };
  });
  if (exprs.length) out.matchExpressions = exprs;
  return Object.keys(out).length ? out : { matchLabels: labels };
}

export function decodeStoredWorkload(key: string, value: Buffer): Workload {
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new DecodeError(key, `not JSON: ${(err as Error).message}`);
  }
  try {
    return validateWorkload(raw, key);
  } catch (err) {
    if (isKeelError(err)) throw err;
    throw new DecodeError(key, String(err));
  }
}

export function isWorkload(obj: { kind: string }): obj is Workload {
  return Object.hasOwn(WORKLOAD_KINDS, obj.kind);
}

export function workloadKindByAlias(alias: string): WorkloadKind | undefined {
  const a = alias.toLowerCase();
  return (Object.keys(WORKLOAD_KINDS) as WorkloadKind[]).find((k) => (WORKLOAD_KINDS[k].aliases as readonly string[]).includes(a));
}
