import type { Command } from 'commander';
import { addEtcdOptions, keelOption } from '../options.js';
import { addIpamOptions } from '../ipam-flags.js';
import { lazy } from './lazy.js';

export function registerApply(program: Command): void {
  const cmd = program
    .command('apply')
    .description(
      'create or update Services, Endpoints and Pods from manifests (allocating ClusterIPs and NodePorts); in a `keel up` sandbox also ReplicationControllers and Deployments',
    )
    .addOption(keelOption('-f, --filename <path...>', 'manifest file, directory or "-" for stdin'));
  addIpamOptions(addEtcdOptions(cmd)).action(lazy(async () => (await import('../apply.js')).runApply));
}
