import { ConflictError, NotFoundError } from '../api/errors.js';
import { subjectOf } from '../api/meta.js';
import type { KvStore } from '../store/kv-store.js';
import { decodeStoredWorkload, workloadKey, type Workload, type WorkloadKind } from './workload.js';
import { canonicalJson } from '../registry/object-registry.js';
import type { ApiObject } from '../api/object.js';

export type WorkloadOutcome = 'created' | 'configured' | 'unchanged';

/** Create-or-replace of a workload, guarded by the revision it read. */
export async function applyWorkload(kv: KvStore, prefix: string, w: Workload): Promise<WorkloadOutcome> {
  const key = workloadKey(prefix, w.kind, w.metadata.namespace, w.metadata.name);
  for (let attempt = 0; attempt < 10; attempt++) {
    const existing = await kv.get(key);
    const text = JSON.stringify(w);
    if (existing) {
      const old = decodeStoredWorkload(key, existing.value);
      if (canonicalJson(old as unknown as ApiObject) === canonicalJson(w as unknown as ApiObject)) return 'unchanged';
    }
    const res = await kv.txn([{ key, modRevision: existing?.modRevision ?? 0 }], [{ put: key, value: text }]);
    if (res.outcome === 'applied') return existing ? 'configured' : 'created';
  }
  throw new ConflictError(
    subjectOf(w.kind, w.metadata.namespace, w.metadata.name),
    'gave up after repeated concurrent modifications; try again',
  );
}

export function workloadPrefix(prefix: string, kind: WorkloadKind): string {
  return `${workloadKey(prefix, kind, '', '').replace(/\/+$/, '')}/`;
}

/** Deletes a workload; the sandbox controller then deletes its pods. */
export async function deleteWorkload(kv: KvStore, prefix: string, kind: WorkloadKind, namespace: string, name: string): Promise<void> {
  const key = workloadKey(prefix, kind, namespace, name);
  const existing = await kv.get(key);
  if (!existing) throw new NotFoundError(subjectOf(kind, namespace, name));
  await kv.txn([{ key, modRevision: existing.modRevision }], [{ delete: key }]);
}
