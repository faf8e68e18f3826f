import { join } from 'node:path';
import { KEEL_BIN } from './agents.js';
import { startDetached, type ProcessRef } from './processes.js';
import type { SandboxState } from './sandbox-state.js';

/**
 * The sandbox's control plane in one host-side process (`keel
 * sandbox-controller`): scheduler, replication and endpoints controllers
 * and the pod runner. It reaches etcd through the run directory's socket
 * and enters node and pod namespaces with `ip netns exec`.
 */
export function startController(state: SandboxState, programPath: string): ProcessRef {
  return startDetached({
    argv: [process.execPath, KEEL_BIN, 'sandbox-controller', '--run-dir', state.runDir, '--program-path', programPath],
    logFile: join(state.runDir, 'logs', 'controller.log'),
  });
}
