import type { Command } from 'commander';
import { UsageError } from '../api/errors.js';
import { startSandboxMember, stopSandboxMember } from '../sandbox/etcd-control.js';
import { readState, type SandboxState } from '../sandbox/sandbox-state.js';
import { keelOption } from './options.js';
import { addRunDirOption, type RunDirFlags } from './sandbox-flags.js';

interface StopFlags extends RunDirFlags {
  force?: boolean;
}

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
  ).action(async (name: string, flags: StopFlags) => {
    const state = sandboxIn(flags.runDir);
    const { running, quorum } = await stopSandboxMember(state, name, flags.force === true);
    process.stdout.write(`etcd member ${name} stopped; ${running} of ${state.etcd.members.length} running (quorum ${quorum})\n`);
  });
  addRunDirOption(
    etcd
      .command('start')
      .description('start a stopped member again on its data; it rejoins and catches up')
      .argument('<member>', 'a stopped member'),
  ).action(async (name: string, flags: RunDirFlags) => {
    await startSandboxMember(sandboxIn(flags.runDir), name);
    process.stdout.write(`etcd member ${name} started\n`);
  });
}

function sandboxIn(runDir: string): SandboxState {
  const state = readState(runDir);
  if (!state) throw new UsageError(`no sandbox in ${runDir} (start one with \`keel up\`)`);
  return state;
}
