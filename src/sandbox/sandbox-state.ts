import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../api/errors.js';
import type { EtcdConnection } from '../store/etcd-client.js';
import { etcdClientCredentials } from './etcd-pki.js';
import type { ProcessRef } from './processes.js';

export const DEFAULT_RUN_DIR = '/run/keel/sandbox';
export const CLUSTER_DOMAIN = 'cluster.local';

/** `keel up --ip-family`: the cluster's families, the first one primary (default ipv4). */
export const IP_FAMILY_MODES = ['ipv4', 'ipv6', 'dual'] as const;
export type IpFamilyMode = (typeof IP_FAMILY_MODES)[number];

/**
 * The sandbox's address plan per family mode: host h of the underlay is
 * 172.30.0.h/24 and fd00:172:30::h/64 (the same digits, so node-2 is .2 and
 * ::2), pods and services take kubeadm's usual ranges and their ULA twins,
 * one range per family and the primary first, as kube-apiserver's and
 * kube-controller-manager's flags take them.
 */
export interface ClusterNetworks {
  /** --cluster-cidr / flannel's Network (and IPv6Network). */
  podNetwork: string;
  /** --service-cluster-ip-range. */
  serviceRange: string;
  /** kube-dns's ClusterIP, the pods' nameserver: the tenth address of the primary service range. */
  dnsIp: string;
}

const NETWORKS: Record<IpFamilyMode, ClusterNetworks> = {
  ipv4: { podNetwork: '10.244.0.0/16', serviceRange: '10.96.0.0/12', dnsIp: '10.96.0.10' },
  dual: { podNetwork: '10.244.0.0/16,fd00:10:244::/56', serviceRange: '10.96.0.0/12,fd00:10:96::/112', dnsIp: '10.96.0.10' },
  ipv6: { podNetwork: 'fd00:10:244::/56', serviceRange: 'fd00:10:96::/112', dnsIp: 'fd00:10:96::a' },
};

export function clusterNetworks(state: Pick<SandboxState, 'ipFamily'>): ClusterNetworks {
  return NETWORKS[state.ipFamily ?? 'ipv4'];
}

function underlayAddress(family: 4 | 6, host: number): string {
  return family === 4 ? `172.30.0.${host}` : `fd00:172:30::${host}`;
}

/** `172.30.0.1/24`, `fd00:172:30::1/64`: an underlay address with its prefix length. */
export function underlayCidr(ip: string): string {
  return `${ip}/${ip.includes(':') ? 64 : 24}`;
}

/** `host:port`, bracketing an IPv6 host as URLs and socket addresses want it. */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** An underlay attachment's addresses: its primary one, and in a dual-stack sandbox its IPv6 one. */
export function underlayIps(x: { ip: string; ipv6?: string | undefined }): string[] {
  return x.ipv6 ? [x.ip, x.ipv6] : [x.ip];
}
/** A member's Unix socket in the run directory: `<member name>.sock:0` (etcd wants a port in the URL and keeps it in the file name). */
export const ETCD_SOCKET_SUFFIX = '.sock:0';
/** Member i's underlay address: .254 down, skipping the client's .253. */
const ETCD_HOSTS = [254, 252, 251, 250, 249];

export interface SandboxNode {
  name: string;
  netns: string;
  /** Underlay address of eth0 in the primary family (IPv6 with --ip-family ipv6). */
  ip: string;
  /** With --ip-family dual: eth0's IPv6 underlay address beside `ip`. */
  ipv6?: string;
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
  /** Absent in sandboxes made before --ip-family: ipv4. */
  ipFamily?: IpFamilyMode;
  switchNetns: string;
  bridge: string;
  /** With `tls`, members, peers and every client use the certificates in `<runDir>/pki`. */
  etcd: { tls: boolean; members: SandboxEtcdMember[] };
  client: { netns: string; ip: string; ipv6?: string };
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
  ipFamily: IpFamilyMode;
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

/**
 * Names and addresses: node-i at .i (::i), the external client at .253,
 * etcd members at .254, .252, .251, …; etcd, like every underlay address,
 * speaks the primary family.
 */
export function planSandbox(plan: SandboxPlan, now = new Date()): SandboxState {
  if (plan.nodes < 1 || plan.nodes > 250) throw new ConfigError('--nodes', `${plan.nodes} must be from 1 to 250`);
  checkEtcdMembers(plan.etcdMembers);
  if (plan.backend === 'udp' && plan.ipFamily !== 'ipv4')
    throw new ConfigError('--ip-family', `${plan.ipFamily} needs the vxlan or host-gw backend (flannel's udp backend is IPv4-only)`);
  const prefix = `ks${plan.id}-`;
  const primary = plan.ipFamily === 'ipv6' ? 6 : 4;
  const at = (host: number): { ip: string; ipv6?: string } => ({
    ip: underlayAddress(primary, host),
    ...(plan.ipFamily === 'dual' ? { ipv6: underlayAddress(6, host) } : {}),
  });
  return {
    version: 2,
    id: plan.id,
    prefix,
    runDir: plan.runDir,
    proxyMode: plan.proxyMode,
    backend: plan.backend,
    ...(plan.ipFamily === 'ipv4' ? {} : { ipFamily: plan.ipFamily }),
    switchNetns: `${prefix}sw`,
    bridge: 'br0',
    etcd: {
      tls: plan.etcdTls,
      members: ETCD_HOSTS.slice(0, plan.etcdMembers).map((host, i) => {
        const name = plan.etcdMembers === 1 ? 'etcd' : `etcd-${i + 1}`;
        return { name, netns: `${prefix}${name}`, ip: underlayAddress(primary, host) };
      }),
    },
    client: { netns: `${prefix}client`, ...at(253) },
    nodes: Array.from({ length: plan.nodes }, (_, i) => ({
      name: `node-${i + 1}`,
      netns: `${prefix}n${i + 1}`,
      ...at(i + 1),
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
  return state.etcd.members.map((m) => `${state.etcd.tls ? 'https' : 'http'}://${hostPort(m.ip, 2379)}`);
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

/** The service range(s) of the sandbox up in `runDir`, if one is: what its "apiserver" allocates from. */
export function sandboxServiceRangeIn(runDir: string): string | undefined {
  const state = existsSync(statePath(runDir)) ? readState(runDir) : undefined;
  return state && clusterNetworks(state).serviceRange;
}

/** The connection to the sandbox up in `runDir`, if one is. */
export function sandboxEtcdConnectionIn(runDir: string): EtcdConnection | undefined {
  const state = existsSync(statePath(runDir)) ? readState(runDir) : undefined;
  return state && sandboxEtcdConnection(state);
}
