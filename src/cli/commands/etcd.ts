import type { Command } from 'commander';
import { keelOption } from '../options.js';
import { addRunDirOption } from '../sandbox-flags.js';
import { lazy } from './lazy.js';

/** `keel etcd stop|start MEMBER`: one sandbox etcd member down and up again, to watch failover (`keel status` shows the leader). */
export function registerEtcd(program: Command): void {
  const etcd = program
    .command('etcd')
    .description('stop and start one etcd member of the sandbox (keel etcd stop etcd-2; keel etcd start etcd-2)');
  addRunDirOption(
    etcd
      .command('stop')
      .description('stop one member; refused without --force when fewer than a quorum would stay running')
      .argument('<member>', 'etcd-1 … etcd-5, or etcd for a one-member sandbox')
      .addOption(keelOption('--force', 'stop it even if the cluster loses its quorum')),
  ).action(lazy(async () => (await import('../etcd.js')).stopMember));
  addRunDirOption(
    etcd
      .command('start')
      .description('start a stopped member again on its data; it rejoins and catches up')
      .argument('<member>', 'a stopped member'),
  ).action(lazy(async () => (await import('../etcd.js')).startMember));
}
