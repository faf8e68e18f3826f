import { UsageError } from '../api/errors.js';
import { validateObject } from '../api/object.js';
import type { IpamConfig } from '../ipam/service-allocation.js';
import { ObjectRegistry } from '../registry/object-registry.js';
import { isWorkload, isWorkloadValue, validateWorkload } from '../sandbox/workload.js';
import { applyWorkload } from '../sandbox/workload-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { withObjectStore } from './connect.js';
import { ipamConfig, type IpamFlags } from './ipam-flags.js';
import { readManifestDocs } from './manifests.js';
import type { EtcdFlags } from './options.js';

interface ApplyFlags extends EtcdFlags, IpamFlags {
  filename: string[];
}

export async function runApply(flags: ApplyFlags): Promise<void> {
  const ipam = ipamConfig(flags);
  await withObjectStore(flags, async (store) => {
    await refuseApiserverEtcd(store, 'apply');
    await applyManifests(store, flags.filename ?? [], ipam, (line) => process.stdout.write(`${line}\n`));
  });
}

/**
 * keel's allocators are not kube-apiserver's: on an etcd a real apiserver owns (its objects are
 * protobuf), writing would race it, so apply and delete refuse; get, rules and trace only read.
 */
export async function refuseApiserverEtcd(store: ObjectStore, verb: 'apply' | 'delete'): Promise<void> {
  const key = await store.apiserverOwned();
  if (key) {
    throw new UsageError(
      `keel ${verb} writes only to an etcd keel owns; this one is kube-apiserver's (protobuf object at ${key}): use kubectl ${verb}`,
    );
  }
}

/** Validates every manifest under `paths` before writing any, then applies them in order, reporting `kind/name outcome` lines. */
export async function applyManifests(
  store: ObjectStore,
  paths: readonly string[],
  ipam: IpamConfig,
  report: (line: string) => void,
): Promise<void> {
  // ReplicationController and Deployment are the sandbox's kinds (its controller makes their pods); agents never read them.
  const objects = readManifestDocs(paths).map((d) =>
    isWorkloadValue(d.value) ? validateWorkload(d.value, d.source) : validateObject(d.value, d.source),
  );
  const registry = new ObjectRegistry(store, { ipam });
  for (const obj of objects) {
    const outcome = isWorkload(obj) ? await applyWorkload(store.kv, store.prefix, obj) : (await registry.apply(obj)).outcome;
    report(`${obj.kind.toLowerCase()}/${obj.metadata.name} ${outcome}`);
  }
}
