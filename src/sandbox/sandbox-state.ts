import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../api/errors.js';
import type { ProcessRef } from './processes.js';

export const DEFAULT_RUN_DIR = '/run/keel/sandbox';
export const UNDERLAY_PREFIX = '172.30.0';
export const UNDERLAY_LEN = 24;
export const POD_NETWORK = '10.244.0.0/16';
export const CLUSTER_DNS_IP = '10.96.0.10';
export const CLUSTER_DOMAIN = 'cluster.local';
export const ETCD_SOCKET = 'etcd.sock:0';

export interface SandboxNode {
  name: string;
  netns: string;
  /** Underlay address of eth0. */
  ip: string;
  agent?: ProcessRef;
}

/**
 * Everything `keel up` made, written before it makes it: `keel down`
 * (also after a crash half-way) needs nothing but this file.
 */
export interface SandboxState {
  version: 1;
  id: string;
  /** Every namespace and /etc/netns entry of this sandbox starts with it. */
  prefix: string;
  runDir: string;
  proxyMode: string;
  backend: string;
  switchNetns: string;
  bridge: string;
  etcd: { netns: string; ip: string; process?: ProcessRef };
  client: { netns: string; ip: string };
  nodes: SandboxNode[];
  controller?: ProcessRef;
  createdAt: string;
}

export interface SandboxPlan {
  id: string;
  runDir: string;
  nodes: number;
  proxyMode: string;
  backend: string;
}

/** Names and addresses: node-i at .i, the external client at .253, etcd at .254. */
export function planSandbox(plan: SandboxPlan, now = new Date()): SandboxState {
  if (plan.nodes < 1 || plan.nodes > 250) throw new ConfigError('--nodes', `${plan.nodes} must be from 1 to 250`);
  const prefix = `ks${plan.id}-`;
  return {
    version: 1,
    id: plan.id,
    prefix,
    runDir: plan.runDir,
    proxyMode: plan.proxyMode,
    backend: plan.backend,
    switchNetns: `${prefix}sw`,
    bridge: 'br0',
    etcd: { netns: `${prefix}etcd`, ip: `${UNDERLAY_PREFIX}.254` },
    client: { netns: `${prefix}client`, ip: `${UNDERLAY_PREFIX}.253` },
    nodes: Array.from({ length: plan.nodes }, (_, i) => ({
      name: `node-${i + 1}`,
      netns: `${prefix}n${i + 1}`,
      ip: `${UNDERLAY_PREFIX}.${i + 1}`,
    })),
    createdAt: now.toISOString(),
  };
}

export function etcdSocketPath(runDir: string): string {
  return join(runDir, ETCD_SOCKET);
}

export function etcdSocketUrl(runDir: string): string {
  return `unix://${etcdSocketPath(runDir)}`;
}

export function etcdClientUrl(state: SandboxState): string {
  return `http://${state.etcd.ip}:2379`;
}

export function statePath(runDir: string): string {
  return join(runDir, 'state.json');
}

export function readState(runDir: string): SandboxState | undefined {
  let text: string;
  try {
    text = readFileSync(statePath(runDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as SandboxState;
    if (state.version !== 1 || typeof state.id !== 'string') throw new Error('unknown layout');
    return state;
  } catch (err) {
    throw new ConfigError(statePath(runDir), `unreadable sandbox state: ${(err as Error).message}`);
  }
}

/** Atomic replace, so a crash never leaves half a state file. */
export function writeState(state: SandboxState): void {
  mkdirSync(state.runDir, { recursive: true });
  const tmp = `${statePath(state.runDir)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, statePath(state.runDir));
}

/** The node a name or netns refers to; `client` is the external client namespace. */
export function findNode(state: SandboxState, name: string): { name: string; netns: string; ip: string } | undefined {
  if (name === 'client' || name === state.client.netns) return { name: 'client', ...state.client };
  return state.nodes.find((n) => n.name === name || n.netns === name);
}

/** The sandbox etcd's socket URL when a sandbox is up in `runDir` (its state and socket both present). */
export function sandboxEtcdEndpoint(runDir: string): string | undefined {
  return existsSync(statePath(runDir)) && existsSync(etcdSocketPath(runDir)) ? etcdSocketUrl(runDir) : undefined;
}
