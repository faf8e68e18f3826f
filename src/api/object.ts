import { DecodeError, UnsupportedKindError } from './errors.js';
import { describe, subjectOf, type ResourceKind } from './meta.js';
import { validateEndpoints, type Endpoints } from './endpoints.js';
import { validatePod, type Pod } from './pod.js';
import { validateService, type Service, type ValidateOptions } from './service.js';
import { validateEndpointSlice, type EndpointSlice } from './endpoint-slice.js';
import { validateNode, type Node } from './node.js';

export type ApiObject = Service | Endpoints | Pod | EndpointSlice | Node;

export interface Resource<T extends ApiObject = ApiObject> {
  kind: T['kind'];
  apiVersion: T['apiVersion'];
  /** Nodes are not: their key is `minions/<name>`. */
  namespaced: boolean;
  /** Names users type: `keel get svc`. */
  aliases: readonly string[];
  /** Path under the registry prefix, as kube-apiserver lays it out. */
  registryPath: string;
  validate(raw: Record<string, unknown>, options?: ValidateOptions): T;
}

export const RESOURCES = {
  Service: {
    kind: 'Service',
    apiVersion: 'v1',
    namespaced: true,
    aliases: ['services', 'service', 'svc'],
    registryPath: 'services/specs',
    validate: validateService,
  },
  Endpoints: {
    kind: 'Endpoints',
    apiVersion: 'v1',
    namespaced: true,
    aliases: ['endpoints', 'endpoint', 'ep'],
    registryPath: 'services/endpoints',
    validate: validateEndpoints,
  },
  Pod: { kind: 'Pod', apiVersion: 'v1', namespaced: true, aliases: ['pods', 'pod', 'po'], registryPath: 'pods', validate: validatePod },
  EndpointSlice: {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    namespaced: true,
    aliases: ['endpointslices', 'endpointslice'],
    registryPath: 'endpointslices',
    validate: validateEndpointSlice,
  },
  Node: {
    kind: 'Node',
    apiVersion: 'v1',
    namespaced: false,
    aliases: ['nodes', 'node', 'no'],
    registryPath: 'minions',
    validate: validateNode,
  },
} as const satisfies { [K in ResourceKind]: Resource<Extract<ApiObject, { kind: K }>> };

export function resourceByAlias(alias: string): Resource | undefined {
  const a = alias.toLowerCase();
  return Object.values(RESOURCES).find((r) => (r.aliases as readonly string[]).includes(a)) as Resource | undefined;
}

export function objectKey(prefix: string, kind: ResourceKind, namespace: string, name: string): string {
  const r = RESOURCES[kind];
  return r.namespaced ? `${prefix}/${r.registryPath}/${namespace}/${name}` : `${prefix}/${r.registryPath}/${name}`;
}

/** Validates one decoded value (JSON, YAML or protobuf) as an object keel serves; `stored` for what etcd already holds (see ValidateOptions). */
export function validateObject(raw: unknown, where = 'input', options: ValidateOptions = {}): ApiObject {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new DecodeError(where, `expected an object with apiVersion and kind, got ${describe(raw)}`);
  }
  const o = raw as Record<string, unknown>;
  const meta = (typeof o.metadata === 'object' && o.metadata !== null ? o.metadata : {}) as Record<string, unknown>;
  const kind = o.kind;
  const subject = subjectOf(typeof kind === 'string' && kind ? kind : 'object', stringOr(meta.namespace), stringOr(meta.name));
  if (typeof kind !== 'string' || kind === '') throw new DecodeError(subject, 'kind: is required');
  if (!(kind in RESOURCES)) throw new UnsupportedKindError(subject, kind);
  const resource: Resource = RESOURCES[kind as ResourceKind];
  if (o.apiVersion !== resource.apiVersion) {
    throw new DecodeError(subject, `apiVersion: ${describe(o.apiVersion)} is not served (keel serves ${resource.apiVersion} ${kind})`);
  }
  return resource.validate(o, options);
}

function stringOr(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
