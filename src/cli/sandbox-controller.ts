import { setMaxListeners } from 'node:events';
import { UsageError } from '../api/errors.js';
import { SandboxController } from '../sandbox/controller.js';
import { readState, sandboxEtcdConnection } from '../sandbox/sandbox-state.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import type { ProgramPathFlags, RunDirFlags } from './sandbox-flags.js';

/** The sandbox's control plane process; `keel up` starts it detached and `keel down` stops it. */
export async function runSandboxController(flags: RunDirFlags & ProgramPathFlags): Promise<void> {
  const state = readState(flags.runDir);
  if (!state) throw new UsageError(`no sandbox in ${flags.runDir}`);
  const conn = sandboxEtcdConnection(state);
  const client = createEtcdClient(conn);
  const abort = new AbortController();
  // Every informer and timer listens on the one signal.
  setMaxListeners(64, abort.signal);
  const stopped = new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const)
      process.once(sig, () => {
        abort.abort();
        resolve();
      });
  });
  try {
    await new SandboxController({
      state,
      kv: new KvStore(client, conn.endpoints),
      prefix: '/registry',
      programPath: flags.programPath,
    }).start(abort.signal);
    await stopped;
  } finally {
    client.close();
  }
}
