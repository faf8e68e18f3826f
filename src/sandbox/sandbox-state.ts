import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../api/errors.js';
import type { EtcdConnection } from '../store/etcd-client.js';
import { etcdClientCredentials } from './etcd-pki.js';
import type { ProcessRef } from './processes.js';

export const DEFAULT_RUN_DIR = '/run/keel/sandbox';
const UNDERLAY_PREFIX = '172.30.0';
export const UNDERLAY_LEN = 24;
export const POD_NETWORK = '10.244.0.0/16';
export const CLUSTER_DNS_IP = '10.96.0.10';
export const CLUSTER_DOMAIN = 'cluster.local';
/** A member's Unix socket in the run directory: `<member name>.sock:0` (etcd wants a port in the URL and keeps it in the file name). */
export const ETCD_SOCKET_SUFFIX = '.sock:0';
/** Member i's underlay address: .254 down, skipping the client's .253. */
const ETCD_HOSTS = [254, 252, 251, 250, 249];

export interface SandboxNode {
  name: string;
  netns: string;
  /** Underlay address of eth0. */
  ip: string;
  agent?: ProcessRef;
}

export interface SandboxEtcdMember {
  /** `etcd` for a lone member, else `etcd-1` … `etcd-5`; also its switch port and socket name. */
  name: string;
  netns: string;
  /** Underlay address; clients on 2379, peers on 2380. */
  ip: string;
  process?: ProcessRef;
}

/**
 * Everything `keel up` made, written before it makes it: `keel down`
 * (also after a crash half-way) needs nothing but this file.
 */
export interface SandboxState {
  version: 2;
  id: string;
  /** Every namespace and /etc/netns entry of this sandbox starts with it. */
  prefix: string;
  runDir: string;
  proxyMode: string;
  backend: string;
  switchNetns: string;
  bridge: string;
  /** With `tls`, members, peers and every client use the certificates in `<runDir>/pki`. */
  etcd: { tls: boolean; members: SandboxEtcdMember[] };
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
  etcdMembers: number;
  etcdTls: boolean;
}

/**
 * An etcd cluster of n members keeps working while a majority (its quorum)
 * runs: 1, 3 and 5 are the sizes worth having; 2 and 4 only add a member
 * that can stop the cluster without tolerating one more failure.
 */
export function checkEtcdMembers(n: number): void {
  if (n === 2)
    throw new ConfigError(
      '--etcd-members',
      '2 members tolerate no failure (quorum is 2, so either one stopping stops the cluster); use 1, 3 or 5',
    );
  if (n === 4)
    throw new ConfigError(
      '--etcd-members',
      '4 members tolerate one failure, as 3 do (quorum is 3), with one more member to replicate to; use 1, 3 or 5',
    );
  if (n !== 1 && n !== 3 && n !== 5) throw new ConfigError('--etcd-members', `${n} must be 1, 3 or 5`);
}

export function quorum(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** Names and addresses: node-i at .i, the external client at .253, etcd members at .254, .252, .251, …. */
export function planSandbox(plan: SandboxPlan, now = new Date()): SandboxState {
  if (plan.nodes < 1 || plan.nodes > 250) throw new ConfigError('--nodes', `${plan.nodes} must be from 1 to 250`);
  checkEtcdMembers(plan.etcdMembers);
  const prefix = `ks${plan.id}-`;
  return {
    version: 2,
    id: plan.id,
    prefix,
    runDir: plan.runDir,
    proxyMode: plan.proxyMode,
    backend: plan.backend,
    switchNetns: `${prefix}sw`,
    bridge: 'br0',
    etcd: {
      tls: plan.etcdTls,
      members: ETCD_HOSTS.slice(0, plan.etcdMembers).map((host, i) => {
        const name = plan.etcdMembers === 1 ? 'etcd' : `etcd-${i + 1}`;
        return { name, netns: `${prefix}${name}`, ip: `${UNDERLAY_PREFIX}.${host}` };
      }),
    },
    client: { netns: `${prefix}client`, ip: `${UNDERLAY_PREFIX}.253` },
    nodes: Array.from({ length: plan.nodes }, (_, i) => ({
      name: `node-${i + 1}`,
      netns: `${prefix}n${i + 1}`,
      ip: `${UNDERLAY_PREFIX}.${i + 1}`,
    })),
    createdAt: now.toISOString(),
  };
}

export function etcdSocketPath(runDir: string, member: Pick<SandboxEtcdMember, 'name'>): string {
  return join(runDir, `${member.name}${ETCD_SOCKET_SUFFIX}`);
}

export function etcdDataDir(state: SandboxState, member: Pick<SandboxEtcdMember, 'name'>): string {
  return join(state.runDir, 'etcd-data', member.name);
}

export function etcdPkiDir(runDir: string): string {
  return join(runDir, 'pki');
}

/** `3 members, TLS with client certificates`. */
export function describeEtcd(state: SandboxState): string {
  const n = state.etcd.members.length;
  return `${n} member${n === 1 ? '' : 's'}, ${state.etcd.tls ? 'TLS with client certificates' : 'plain http'}`;
}

/** The URLs agents use on the underlay: every member, https with --etcd-tls. */
export function etcdClientUrls(state: SandboxState): string[] {
  return state.etcd.members.map((m) => `${state.etcd.tls ? 'https' : 'http'}://${m.ip}:2379`);
}

/**
 * How host-side processes (CLI, controller) reach the sandbox's etcd: every
 * member's Unix socket (reachable from any network namespace, no address on
 * the host), with the client certificate when the cluster uses TLS.
 */
export function sandboxEtcdConnection(state: SandboxState, members = state.etcd.members): EtcdConnection {
  const conn: EtcdConnection = { endpoints: members.map((m) => `unix://${etcdSocketPath(state.runDir, m)}`) };
  if (state.etcd.tls) Object.assign(conn, etcdClientCredentials(etcdPkiDir(state.runDir)));
  return conn;
}

function statePath(runDir: string): string {
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
    const state = JSON.parse(text) as SandboxState | SandboxStateV1;
    if (typeof state.id !== 'string') throw new Error('unknown layout');
    if (state.version === 1) return { ...state, version: 2, etcd: { tls: false, members: [{ name: 'etcd', ...state.etcd }] } };
    if (state.version !== 2) throw new Error('unknown layout');
    return state;
  } catch (err) {
    throw new ConfigError(statePath(runDir), `unreadable sandbox state: ${(err as Error).message}`);
  }
}

/** The layout before multi-member etcd: one plain member, socket `etcd.sock:0`, so its sandbox can still be listed and removed. */
interface SandboxStateV1 extends Omit<SandboxState, 'version' | 'etcd'> {
  version: 1;
  etcd: { netns: string; ip: string; process?: ProcessRef };
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

/** The connection to the sandbox up in `runDir`, if one is. */
export function sandboxEtcdConnectionIn(runDir: string): EtcdConnection | undefined {
  const state = existsSync(statePath(runDir)) ? readState(runDir) : undefined;
  return state && sandboxEtcdConnection(state);
}
