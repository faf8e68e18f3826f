import type { Command } from 'commander';
import { addEtcdOptions, keelOption } from '../options.js';
import { addIpamOptions } from '../ipam-flags.js';
import { lazy } from './lazy.js';

export function registerDelete(program: Command): void {
  const cmd = program
    .command('delete')
    .description('delete objects named on the command line or in manifests (releasing their ClusterIPs and NodePorts)')
    .argument('[resource]', 'services|endpoints|pods (in a sandbox also replicationcontrollers|deployments)')
    .argument('[names...]', 'object names')
    .addOption(keelOption('-f, --filename <path...>', 'manifest file, directory or "-"'))
    .addOption(keelOption('-n, --namespace <ns>', 'namespace', 'default'));
  addIpamOptions(addEtcdOptions(cmd)).action(lazy(async () => (await import('../delete.js')).runDelete));
}
