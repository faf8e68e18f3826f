import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError } from '../api/errors.js';
import type { ResourceKind } from '../api/meta.js';
import { subjectOf } from '../api/meta.js';
import type { ApiObject } from '../api/object.js';
import type { Service } from '../api/service.js';
import { ClaimBook, claimChanges, takenFrom } from '../ipam/claims.js';
import { planServiceAllocation, type IpamConfig } from '../ipam/service-allocation.js';
import { randomPick, type PickIndex } from '../ipam/service-ips.js';
import { encodeForStorage, type ObjectStore, type StoredObject } from '../store/object-store.js';
import type { KeyAt, TxnOp } from '../store/kv-store.js';
import { realClock, type Clock } from '../runtime/clock.js';

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

export interface RegistryOptions {
  ipam: IpamConfig;
  pick?: PickIndex;
  /** How many lost races a write retries before giving up with a conflict. */
  maxAttempts?: number;
  /** Stamps creationTimestamp. */
  clock?: Clock;
}

/**
 * The write path kube-apiserver would provide: create-or-update with
 * allocation, and delete with release, each one etcd transaction guarded
 * by the mod revisions it read.
 */
export class ObjectRegistry {
  private readonly claims: ClaimBook;

  constructor(
    private readonly objects: ObjectStore,
    private readonly options: RegistryOptions,
  ) {
    this.claims = new ClaimBook(objects.kv, objects.prefix);
  }

  async apply(desired: ApiObject): Promise<{ outcome: ApplyOutcome; object: ApiObject }> {
    const { namespace, name } = desired.metadata;
    const key = this.objects.key(desired.kind, namespace, name);
    const owner = `${namespace}/${name}`;
    for (let attempt = 0; attempt < (this.options.maxAttempts ?? 20); attempt++) {
      const existing = await this.objects.get(desired.kind, namespace, name);
      let next: ApiObject = desired;
      const conditions: KeyAt[] = [{ key, modRevision: existing?.modRevision ?? 0 }];
      const ops: TxnOp[] = [];
      if (desired.kind === 'Service') {
        const [claims, services] = await Promise.all([this.claims.load(), this.objects.list('Service')]);
        const others = services.items.map((i) => i.object).filter((s) => `${s.metadata.namespace}/${s.metadata.name}` !== owner);
        const plan = planServiceAllocation(
          desired,
          existing?.object as Service | undefined,
          takenFrom(claims, others),
          this.options.ipam,
          this.options.pick ?? randomPick,
        );
        next = plan.service;
        const changes = claimChanges(this.claims, claims, owner, plan.ips, plan.nodePorts);
        conditions.push(...changes.conditions);
        ops.push(...changes.ops);
      }
      next = this.withServerFields(next, existing);
      if (existing && canonicalJson(existing.object) === canonicalJson(next)) return { outcome: 'unchanged', object: existing.object };
      ops.unshift({ put: key, value: encodeForStorage(next) });
      const res = await this.objects.kv.txn(conditions, ops);
      if (res.outcome === 'applied') {
        next.metadata.resourceVersion = String(res.revision);
        return { outcome: existing ? 'configured' : 'created', object: next };
      }
    }
    throw new ConflictError(subjectOf(desired.kind, namespace, name), 'gave up after repeated concurrent modifications; try again');
  }

  async delete(kind: ResourceKind, namespace: string, name: string): Promise<ApiObject> {
    const owner = `${namespace}/${name}`;
    for (let attempt = 0; attempt < (this.options.maxAttempts ?? 20); attempt++) {
      const existing: StoredObject | undefined = await this.objects.get(kind, namespace, name);
      if (!existing) throw new NotFoundError(subjectOf(kind, namespace, name));
      const conditions: KeyAt[] = [{ key: existing.key, modRevision: existing.modRevision }];
      const ops: TxnOp[] = [{ delete: existing.key }];
      if (kind === 'Service') {
        const changes = claimChanges(this.claims, await this.claims.load(), owner, [], []);
        conditions.push(...changes.conditions);
        ops.push(...changes.ops);
      }
      if ((await this.objects.kv.txn(conditions, ops)).outcome === 'applied') return existing.object;
    }
    throw new ConflictError(subjectOf(kind, namespace, name), 'gave up after repeated concurrent modifications; try again');
  }

  /** uid and creationTimestamp are the server's: kept from the stored object, made on create. */
  private withServerFields(obj: ApiObject, existing: StoredObject | undefined): ApiObject {
    const { resourceVersion: _rv, ...meta } = obj.metadata;
    const metadata = {
      ...meta,
      uid: existing?.object.metadata.uid ?? obj.metadata.uid ?? randomUUID(),
      creationTimestamp:
        existing?.object.metadata.creationTimestamp ??
        new Date((this.options.clock ?? realClock).now()).toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    return { ...obj, metadata } as ApiObject;
  }
}

/** JSON with sorted keys and no resourceVersion: equal objects give equal text. */
export function canonicalJson(obj: ApiObject): string {
  return JSON.stringify(obj, (k, v: unknown) => {
    if (k === 'resourceVersion') return undefined;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}
