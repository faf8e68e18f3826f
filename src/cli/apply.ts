import type { Command } from 'commander';
import { validateObject } from '../api/object.js';
import { ObjectRegistry } from '../registry/object-registry.js';
import { isWorkload, isWorkloadValue, validateWorkload } from '../sandbox/workload.js';
import { applyWorkload } from '../sandbox/workload-store.js';
import { withObjectStore } from './connect.js';
import { addIpamOptions, ipamConfig, type IpamFlags } from './ipam-flags.js';
import { readManifestDocs } from './manifests.js';
import { addEtcdOptions, keelOption, type EtcdFlags } from './options.js';

interface ApplyFlags extends EtcdFlags, IpamFlags {
  filename: string[];
}

export function registerApply(program: Command): void {
  const cmd = program.command('apply')
    .description('create or update Services, Endpoints and Pods from manifests (allocating ClusterIPs and NodePorts); in a `keel up` sandbox also ReplicationControllers and Deployments')
    .addOption(keelOption('-f, --filename <path...>', 'manifest file, directory or "-" for stdin'));
  addIpamOptions(addEtcdOptions(cmd)).action(async (flags: ApplyFlags) => {
    // ReplicationController and Deployment are the sandbox's kinds (its controller makes their pods); agents never read them.
    const objects = readManifestDocs(flags.filename ?? [])
      .map((d) => (isWorkloadValue(d.value) ? validateWorkload(d.value, d.source) : validateObject(d.value, d.source)));
    const ipam = ipamConfig(flags);
    await withObjectStore(flags, async (store) => {
      const registry = new ObjectRegistry(store, { ipam });
      for (const obj of objects) {
        const outcome = isWorkload(obj) ? await applyWorkload(store.kv, store.prefix, obj) : (await registry.apply(obj)).outcome;
        process.stdout.write(`${obj.kind.toLowerCase()}/${obj.metadata.name} ${outcome}\n`);
      }
    });
  });
}
