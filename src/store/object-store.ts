import { DecodeError, KeelError } from '../api/errors.js';
import { decodeProtobufObject, isProtobufValue } from '../api/protobuf-decode.js';
import { namespacedName, type ClusterSnapshot } from '../api/cluster-state.js';
import type { ResourceKind } from '../api/meta.js';
import { RESOURCES, objectKey, validateObject, type ApiObject } from '../api/object.js';
import type { Endpoints } from '../api/endpoints.js';
import { groupSlices, selectSlices, type EndpointsSource } from '../api/endpoint-slice.js';
import type { Pod } from '../api/pod.js';
import type { Service } from '../api/service.js';
import type { KvEntry, KvStore } from './kv-store.js';

export type ObjectOfKind<K extends ResourceKind> = Extract<ApiObject, { kind: K }>;

export interface StoredObject<T extends ApiObject = ApiObject> {
  object: T;
  key: string;
  modRevision: number;
}

export interface InvalidObject {
  key: string;
  error: KeelError;
}

export interface ObjectListing<T extends ApiObject> {
  items: StoredObject<T>[];
  invalid: InvalidObject[];
  revision: number;
}

/**
 * Kubernetes objects in etcd at kube-apiserver's keys, read as JSON or protobuf, written as JSON. Bad
 * values are reported beside the good ones, never instead of them.
 */
export class ObjectStore {
  constructor(
    readonly kv: KvStore,
    readonly prefix: string,
  ) {}

  key(kind: ResourceKind, namespace: string, name: string): string {
    return objectKey(this.prefix, kind, namespace, name);
  }

  /** Prefix under which every object of a kind (optionally of one namespace; Nodes have none) lives. */
  kindPrefix(kind: ResourceKind, namespace?: string): string {
    const r = RESOURCES[kind];
    return `${this.prefix}/${r.registryPath}/${namespace && r.namespaced ? `${namespace}/` : ''}`;
  }

  async get<K extends ResourceKind>(kind: K, namespace: string, name: string): Promise<StoredObject<ObjectOfKind<K>> | undefined> {
    const key = this.key(kind, namespace, name);
    const entry = await this.kv.get(key);
    if (!entry) return undefined;
    return { object: decodeStored(kind, entry), key, modRevision: entry.modRevision };
  }

  async list<K extends ResourceKind>(kind: K, namespace?: string): Promise<ObjectListing<ObjectOfKind<K>>> {
    const { entries, revision } = await this.kv.list(this.kindPrefix(kind, namespace));
    const items: StoredObject<ObjectOfKind<K>>[] = [];
    const invalid: InvalidObject[] = [];
    for (const entry of entries) {
      try {
        items.push({ object: decodeStored(kind, entry), key: entry.key, modRevision: entry.modRevision });
      } catch (err) {
        invalid.push({ key: entry.key, error: asKeelError(entry.key, err) });
      }
    }
    return { items, invalid, revision };
  }

  /**
   * The key of a protobuf object kube-apiserver always keeps (the default namespace, the kubernetes
   * Service) when a real apiserver owns this etcd, else undefined. Two reads, not a listing.
   */
  async apiserverOwned(): Promise<string | undefined> {
    for (const key of [`${this.prefix}/namespaces/default`, this.key('Service', 'default', 'kubernetes')]) {
      const entry = await this.kv.get(key);
      if (entry && isProtobufValue(entry.value)) return key;
    }
    return undefined;
  }

  /** A one-shot read of Services, Endpoints, Pods and (by `source`) EndpointSlices, each listing at its own revision. */
  async readSnapshot(source: EndpointsSource = 'auto'): Promise<ClusterSnapshot> {
    const [services, endpoints, pods, slices] = await Promise.all([
      this.list('Service'),
      this.list('Endpoints'),
      this.list('Pod'),
      source === 'endpoints' ? undefined : this.list('EndpointSlice'),
    ]);
    const sliceGroups = slices ? selectSlices(source, groupSlices(slices.items.map((i) => i.object)), slices.items.length > 0) : undefined;
    const byName = <T extends ApiObject>(l: ObjectListing<T>): Map<string, T> =>
      new Map(l.items.map((i) => [namespacedName(i.object.metadata.namespace, i.object.metadata.name), i.object]));
    return {
      revision: Math.max(services.revision, endpoints.revision, pods.revision),
      services: byName<Service>(services),
      endpoints: byName<Endpoints>(endpoints),
      pods: byName<Pod>(pods),
      ...(sliceGroups ? { endpointSlices: sliceGroups } : {}),
    };
  }
}

/**
 * Decodes a stored value: JSON as keel writes it, or the protobuf envelope
 * kube-apiserver writes by default. The key must agree with the object's
 * kind, namespace and name, as kube-apiserver guarantees; resourceVersion
 * comes from etcd, not from the value.
 */
export function decodeStored<K extends ResourceKind>(kind: K, entry: Pick<KvEntry, 'key' | 'value' | 'modRevision'>): ObjectOfKind<K> {
  const { key, value } = entry;
  const raw = isProtobufValue(value) ? decodeProtobufObject(key, value) : parseJson(key, value);
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    // Older writers leave kind/apiVersion out of the stored value; the key says what it is.
    o.kind ??= kind;
    o.apiVersion ??= RESOURCES[kind].apiVersion;
  }
  const obj = validateObject(raw, key, { mode: 'stored' });
  if (obj.kind !== kind) throw new DecodeError(key, `holds a ${obj.kind}, expected ${kind}`);
  const tail = key.split('/').slice(RESOURCES[kind].namespaced ? -2 : -1);
  const named = RESOURCES[kind].namespaced ? [obj.metadata.namespace, obj.metadata.name] : [obj.metadata.name];
  if (tail.join('/') !== named.join('/')) {
    throw new DecodeError(key, `holds ${named.join('/')}, which does not match its key`);
  }
  obj.metadata.resourceVersion = String(entry.modRevision);
  return obj as ObjectOfKind<K>;
}

function parseJson(key: string, value: Buffer): unknown {
  try {
    return JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new DecodeError(key, `not JSON, nor kube-apiserver's protobuf (no "k8s\\0" envelope): ${(err as Error).message}`);
  }
}

/** The stored form: v1 JSON without the etcd-derived resourceVersion. */
export function encodeForStorage(obj: ApiObject): string {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return JSON.stringify({ ...obj, metadata });
}

function asKeelError(key: string, err: unknown): KeelError {
  return err instanceof KeelError ? err : new DecodeError(key, String(err));
}
