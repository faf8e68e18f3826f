import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KeelError } from '../api/errors.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { startDetached, isRunning, sleep, type ProcessRef } from './processes.js';
import { ETCD_SOCKET, etcdClientUrl, etcdSocketPath, etcdSocketUrl, type SandboxState } from './sandbox-state.js';

/**
 * etcd in its own namespace, on the underlay for the nodes and on a Unix
 * socket in the run directory for the host-side CLI (a socket file is
 * reachable from any network namespace; the host gets no address).
 */
export function startSandboxEtcd(state: SandboxState): ProcessRef {
  const peer = 'http://127.0.0.1:2380';
  return startDetached({
    netns: state.etcd.netns,
    // etcd takes the socket path relative to its working directory.
    cwd: state.runDir,
    logFile: join(state.runDir, 'logs', 'etcd.log'),
    argv: [
      'etcd',
      '--name', 'keel-sandbox',
      '--data-dir', join(state.runDir, 'etcd-data'),
      '--listen-client-urls', `${etcdClientUrl(state)},unix://${ETCD_SOCKET}`,
      '--advertise-client-urls', etcdClientUrl(state),
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `keel-sandbox=${peer}`,
      '--log-level', 'warn',
      '--logger', 'zap',
    ],
  });
}

/** Waits until etcd answers on its socket. */
export async function waitSandboxEtcd(state: SandboxState, proc: ProcessRef, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isRunning(proc)) {
      throw new KeelError('KEEL_CONFIG', `etcd exited; see ${join(state.runDir, 'logs', 'etcd.log')}`, { subject: `sandbox ${state.id}` });
    }
    if (existsSync(etcdSocketPath(state.runDir)) && (await answers(etcdSocketUrl(state.runDir)))) return;
    if (Date.now() > deadline) throw new KeelError('KEEL_CONFIG', `etcd did not answer within ${timeoutMs} ms`, { subject: `sandbox ${state.id}` });
    await sleep(100);
  }
}

async function answers(url: string): Promise<boolean> {
  const client = createEtcdClient({ endpoints: [url], callTimeoutMs: 1_000 });
  try {
    await client.get('/keel-sandbox-ping').string();
    return true;
  } catch {
    return false;
  } finally {
    client.close();
  }
}
