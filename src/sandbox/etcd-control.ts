import { ConfigError, UsageError } from '../api/errors.js';
import { isRunning, stopProcess } from './processes.js';
import { startEtcdMember, waitEtcdMembers } from './sandbox-etcd.js';
import { quorum, writeState, type SandboxEtcdMember, type SandboxState } from './sandbox-state.js';

function memberNamed(state: SandboxState, name: string): SandboxEtcdMember {
  const member = state.etcd.members.find((m) => m.name === name);
  if (!member)
    throw new UsageError(
      `no etcd member ${JSON.stringify(name)} in sandbox ${state.id} (members: ${state.etcd.members.map((m) => m.name).join(', ')})`,
    );
  return member;
}

/**
 * Stops one member (SIGTERM, as an operator would) so failover can be
 * watched. Stopping a member that leaves fewer than a quorum running stops
 * the cluster taking writes: refused unless `force`.
 */
export async function stopSandboxMember(state: SandboxState, name: string, force: boolean): Promise<{ running: number; quorum: number }> {
  const member = memberNamed(state, name);
  if (!isRunning(member.process)) throw new UsageError(`etcd member ${name} is already stopped`);
  const running = state.etcd.members.filter((m) => m !== member && isRunning(m.process)).length;
  const needed = quorum(state.etcd.members.length);
  if (running < needed && !force) {
    throw new ConfigError(
      `etcd member ${name}`,
      `stopping it leaves ${running} of ${state.etcd.members.length} members running, below the quorum of ${needed}: etcd stops taking reads and writes and every agent keeps its last rules; add --force to stop it anyway`,
    );
  }
  await stopProcess(member.process);
  return { running, quorum: needed };
}

/** Restarts a stopped member on its data: it rejoins and catches up from the leader. */
export async function startSandboxMember(state: SandboxState, name: string): Promise<void> {
  const member = memberNamed(state, name);
  if (isRunning(member.process)) throw new UsageError(`etcd member ${name} is already running`);
  member.process = startEtcdMember(state, member);
  writeState(state);
  // A member alone without quorum cannot answer a read; wait only when the others give it one.
  const others = state.etcd.members.filter((m) => m !== member && isRunning(m.process)).length;
  if (others + 1 >= quorum(state.etcd.members.length)) await waitEtcdMembers(state, [member]);
}
