import type { Command } from 'commander';
import { ObjectRegistry } from '../registry/object-registry.js';
import { withObjectStore } from './connect.js';
import { addIpamOptions, ipamConfig, type IpamFlags } from './ipam-flags.js';
import { readManifests } from './manifests.js';
import { addEtcdOptions, keelOption, type EtcdFlags } from './options.js';

interface ApplyFlags extends EtcdFlags, IpamFlags {
  filename: string[];
}

export function registerApply(program: Command): void {
  const cmd = program.command('apply')
    .description('create or update Services, Endpoints and Pods from manifests (allocating ClusterIPs and NodePorts)')
    .addOption(keelOption('-f, --filename <path...>', 'manifest file, directory or "-" for stdin'));
  addIpamOptions(addEtcdOptions(cmd)).action(async (flags: ApplyFlags) => {
    const objects = readManifests(flags.filename ?? []);
    const ipam = ipamConfig(flags);
    await withObjectStore(flags, async (store) => {
      const registry = new ObjectRegistry(store, { ipam });
      for (const obj of objects) {
        const { outcome } = await registry.apply(obj);
        process.stdout.write(`${obj.kind.toLowerCase()}/${obj.metadata.name} ${outcome}\n`);
      }
    });
  });
}
