import { UsageError } from '../api/errors.js';
import { startSandboxMember, stopSandboxMember } from '../sandbox/etcd-control.js';
import { readState, type SandboxState } from '../sandbox/sandbox-state.js';
import type { RunDirFlags } from './sandbox-flags.js';

interface StopFlags extends RunDirFlags {
  force?: boolean;
}

export async function stopMember(name: string, flags: StopFlags): Promise<void> {
  const state = sandboxIn(flags.runDir);
  const { running, quorum } = await stopSandboxMember(state, name, flags.force === true);
  process.stdout.write(`etcd member ${name} stopped; ${running} of ${state.etcd.members.length} running (quorum ${quorum})\n`);
}

export async function startMember(name: string, flags: RunDirFlags): Promise<void> {
  await startSandboxMember(sandboxIn(flags.runDir), name);
  process.stdout.write(`etcd member ${name} started\n`);
}

function sandboxIn(runDir: string): SandboxState {
  const state = readState(runDir);
  if (!state) throw new UsageError(`no sandbox in ${runDir} (start one with \`keel up\`)`);
  return state;
}
