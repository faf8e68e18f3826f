import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KeelError } from '../api/errors.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { etcdMemberArgs } from './etcd-member.js';
import { etcdPkiFiles } from './etcd-pki.js';
import { sleep } from '../runtime/backoff.js';
import { startDetached, isRunning, type ProcessRef } from './processes.js';
import {
  ETCD_SOCKET_SUFFIX,
  etcdDataDir,
  etcdPkiDir,
  etcdSocketPath,
  sandboxEtcdConnection,
  type SandboxEtcdMember,
  type SandboxState,
} from './sandbox-state.js';

function etcdLogFile(state: SandboxState, member: SandboxEtcdMember): string {
  return join(state.runDir, 'logs', `${member.name}.log`);
}

/**
 * One etcd member in its own namespace, on the underlay for the nodes and
 * on a Unix socket in the run directory for host-side processes (a socket
 * file is reachable from any network namespace; the host gets no address).
 * A member whose data directory exists rejoins with its data.
 */
export function startEtcdMember(state: SandboxState, member: SandboxEtcdMember): ProcessRef {
  const dataDir = etcdDataDir(state, member);
  // A killed member leaves its socket file behind; etcd will not bind over it.
  rmSync(etcdSocketPath(state.runDir, member), { force: true });
  return startDetached({
    netns: member.netns,
    // etcd takes the socket path relative to its working directory.
    cwd: state.runDir,
    logFile: etcdLogFile(state, member),
    argv: etcdMemberArgs(
      { name: member.name, ip: member.ip, dataDir, socket: `${member.name}${ETCD_SOCKET_SUFFIX}` },
      {
        members: state.etcd.members,
        token: `keel-sandbox-${state.id}`,
        ...(state.etcd.tls ? { pki: etcdPkiFiles(etcdPkiDir(state.runDir)) } : {}),
        socketTls: true,
        logLevel: 'warn',
      },
      existsSync(dataDir) ? 'existing' : 'new',
    ),
  });
}

/** Waits until every given member answers on its socket (a read needs the cluster's quorum). */
export async function waitEtcdMembers(state: SandboxState, members: readonly SandboxEtcdMember[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const member of members) {
    for (;;) {
      if (!isRunning(member.process)) {
        throw new KeelError('KEEL_CONFIG', `etcd member exited; see ${etcdLogFile(state, member)}`, {
          subject: `sandbox ${state.id} ${member.name}`,
        });
      }
      if (existsSync(etcdSocketPath(state.runDir, member)) && (await answers(state, member))) break;
      if (Date.now() > deadline)
        throw new KeelError('KEEL_CONFIG', `etcd member did not answer within ${timeoutMs} ms; see ${etcdLogFile(state, member)}`, {
          subject: `sandbox ${state.id} ${member.name}`,
        });
      await sleep(100);
    }
  }
}

async function answers(state: SandboxState, member: SandboxEtcdMember): Promise<boolean> {
  const client = createEtcdClient({ ...sandboxEtcdConnection(state, [member]), callTimeoutMs: 1_000 });
  try {
    await client.get('/keel-sandbox-ping').string();
    return true;
  } catch {
    return false;
  } finally {
    client.close();
  }
}
