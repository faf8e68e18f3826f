import { isKeelError, UsageError } from '../api/errors.js';
import type { ResourceKind } from '../api/meta.js';
import { resourceByAlias, validateObject } from '../api/object.js';
import { ObjectRegistry } from '../registry/object-registry.js';
import { WORKLOAD_KINDS, isWorkloadValue, validateWorkload, workloadKindByAlias, type WorkloadKind } from '../sandbox/workload.js';
import { deleteWorkload } from '../sandbox/workload-store.js';
import { withObjectStore } from './connect.js';
import { refuseApiserverEtcd } from './apply.js';
import { ipamConfig, type IpamFlags } from './ipam-flags.js';
import { readManifestDocs } from './manifests.js';
import { resourcePlural } from './get-output.js';
import { notFoundLine } from './not-found.js';
import type { EtcdFlags } from './options.js';

interface DeleteFlags extends EtcdFlags, IpamFlags {
  filename?: string[];
  namespace: string;
}

export async function runDelete(resource: string | undefined, names: string[], flags: DeleteFlags): Promise<void> {
  const targets = flags.filename
    ? readManifestDocs(flags.filename)
        .map((d) => (isWorkloadValue(d.value) ? validateWorkload(d.value, d.source) : validateObject(d.value, d.source)))
        .map((o) => ({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }))
    : namedTargets(resource, names, flags.namespace);
  await withObjectStore(flags, async (store) => {
    await refuseApiserverEtcd(store, 'delete');
    const registry = new ObjectRegistry(store, { ipam: ipamConfig(flags) });
    for (const t of targets) {
      try {
        if (isWorkloadKind(t.kind)) await deleteWorkload(store.kv, store.prefix, t.kind, t.namespace, t.name);
        else await registry.delete(t.kind, t.namespace, t.name);
      } catch (err) {
        if (!isKeelError(err, 'KEEL_NOT_FOUND')) throw err;
        // As kubectl: say so in its words and go on with the other names; exit 1 at the end.
        process.stderr.write(`${notFoundLine(pluralOf(t.kind), t.name)}\n`);
        process.exitCode = 1;
        continue;
      }
      process.stdout.write(`${t.kind.toLowerCase()} "${t.name}" deleted\n`);
    }
  });
}

function pluralOf(kind: ResourceKind | WorkloadKind): string {
  return isWorkloadKind(kind) ? WORKLOAD_KINDS[kind].aliases[0] : resourcePlural(kind);
}

function isWorkloadKind(kind: string): kind is WorkloadKind {
  return kind === 'ReplicationController' || kind === 'Deployment';
}

function namedTargets(
  resource: string | undefined,
  names: string[],
  namespace: string,
): { kind: ResourceKind | WorkloadKind; namespace: string; name: string }[] {
  if (!resource) throw new UsageError('delete: name a resource and objects (keel delete service NAME) or give -f FILE');
  const workload = workloadKindByAlias(resource);
  if (workload && names.length === 0) throw new UsageError(`delete: name the ${WORKLOAD_KINDS[workload].aliases[0]} to delete`);
  if (workload) return names.map((name) => ({ kind: workload, namespace, name }));
  const r = resourceByAlias(resource);
  if (!r) throw new UsageError(`delete: unknown resource "${resource}" (services, endpoints, pods)`);
  if (names.length === 0) throw new UsageError(`delete: name the ${r.aliases[0]} to delete`);
  return names.map((name) => ({ kind: r.kind, namespace, name }));
}
