import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { deleteNetns, listNetns } from './netns.js';
import { stopProcess } from './processes.js';
import { listPodRecords } from './pod-records.js';
import { DEFAULT_RUN_DIR, etcdSocketPath, readState, type SandboxState } from './sandbox-state.js';

/** What `keel up` and the pods leave in a run directory; anything else there is the user's. */
const RUN_DIR_ENTRIES = ['state.json', 'etcd-data', 'pki', 'logs', 'nodes', 'pods'];

export interface DownReport {
  id: string;
  processes: number;
  namespaces: string[];
}

/**
 * Removes a sandbox: processes by recorded PID (controller first, so no
 * pod is restarted behind our back), then every namespace carrying the
 * sandbox's prefix (which takes their links with them), the pods'
 * /etc/netns entries, and the run directory's files.
 */
export async function sandboxDown(runDir: string): Promise<DownReport | undefined> {
  const state = readState(runDir);
  if (!state) return undefined;
  let processes = 0;
  const stop = async (ref: Parameters<typeof stopProcess>[0]): Promise<void> => {
    if (await stopProcess(ref)) processes++;
  };
  await stop(state.controller);
  const pods = listPodRecords(runDir);
  await Promise.all(pods.flatMap((p) => p.processes.map((ref) => stop(ref))));
  await Promise.all(state.nodes.map((n) => stop(n.agent)));
  await Promise.all(state.etcd.members.map((m) => stop(m.process)));
  const namespaces = (await listNetns()).filter((ns) => ns.startsWith(state.prefix));
  for (const ns of namespaces) await deleteNetns(ns);
  removeEtcNetns(state);
  for (const entry of RUN_DIR_ENTRIES) rmSync(join(runDir, entry), { recursive: true, force: true });
  for (const m of state.etcd.members) rmSync(etcdSocketPath(runDir, m), { force: true });
  if (existsSync(runDir) && readdirSync(runDir).length === 0) rmSync(runDir, { recursive: true, force: true });
  // /run/keel exists only because `keel up` made it for the default run directory.
  const parent = dirname(DEFAULT_RUN_DIR);
  if (resolve(runDir) === DEFAULT_RUN_DIR && existsSync(parent) && readdirSync(parent).length === 0)
    rmSync(parent, { recursive: true, force: true });
  return { id: state.id, processes, namespaces };
}

function removeEtcNetns(state: SandboxState): void {
  let names: string[];
  try {
    names = readdirSync('/etc/netns');
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(state.prefix)) rmSync(join('/etc/netns', name), { recursive: true, force: true });
  }
}
