import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../api/errors.js';
import { parseServiceRange } from '../ipam/service-ips.js';
import { DEFAULT_NODE_PORT_RANGE, parsePortRange } from '../ipam/node-ports.js';
import { LeaseStore } from '../overlay/lease-store.js';
import { renderNetworkConfig } from '../overlay/network-config.js';
import { readSubnetEnv } from '../overlay/subnet-env.js';
import { ObjectRegistry } from '../registry/object-registry.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { ObjectStore } from '../store/object-store.js';
import { agentAvailable, startAgent, subnetFile } from './agents.js';
import { kubeDnsObjects } from './cluster-objects.js';
import { listNetns } from './netns.js';
import { sleep } from '../runtime/backoff.js';
import { isRunning } from './processes.js';
import { startController } from './controller-process.js';
import { makeEtcdPki } from './etcd-pki.js';
import { startEtcdMember, waitEtcdMembers } from './sandbox-etcd.js';
import {
  clusterNetworks,
  describeEtcd,
  etcdPkiDir,
  planSandbox,
  quorum,
  readState,
  sandboxEtcdConnection,
  underlayIps,
  writeState,
  type IpFamilyMode,
  type SandboxState,
} from './sandbox-state.js';
import { buildTopology } from './topology.js';

export interface UpOptions {
  runDir: string;
  nodes: number;
  proxyMode: string;
  backend: string;
  /** 1, 3 or 5 members, each in its own namespace. */
  etcdMembers: number;
  /** Client and peer TLS with certificates made in `<runDir>/pki`. */
  etcdTls: boolean;
  /** The cluster's families (`--ip-family`): the underlay, pod and service ranges of each. */
  ipFamily: IpFamilyMode;
  /** Where the controller's pods find Debian's programs for images (PATH-style). */
  programPath: string;
  /** Start `keel agent` on every node (when this build has it). */
  agents: boolean;
  log: (line: string) => void;
}

export interface UpResult {
  state: SandboxState;
  reused: boolean;
}

/**
 * Brings a sandbox cluster up, writing the state file before each thing
 * it makes so `keel down` can always undo it. A sandbox already up in the
 * run directory is reused (missing agents and controller restarted).
 */
export async function sandboxUp(options: UpOptions): Promise<UpResult> {
  const existing = readState(options.runDir);
  if (existing) {
    const broken = await brokenParts(existing);
    if (broken.length > 0) {
      throw new ConfigError(
        `sandbox ${existing.id}`,
        `${options.runDir} holds a sandbox that is not fully up (${broken.join(', ')}); run \`keel down\` first`,
      );
    }
    const etcd = existing.etcd;
    const differs = etcd.members.length !== options.etcdMembers || etcd.tls !== options.etcdTls;
    const family = existing.ipFamily ?? 'ipv4';
    options.log(
      `sandbox ${existing.id} is already up in ${options.runDir}${differs ? ` (etcd: ${describeEtcd(existing)}; --etcd-members and --etcd-tls apply to a new sandbox, after \`keel down\`)` : ''}${family !== options.ipFamily ? ` (ip family ${family}; --ip-family applies to a new sandbox, after \`keel down\`)` : ''}`,
    );
    for (const m of etcd.members)
      if (!isRunning(m.process)) options.log(`${m.name} is stopped (\`keel etcd start ${m.name}\` restarts it)`);
    await startProcesses(existing, options);
    return { state: existing, reused: true };
  }
  mkdirSync(options.runDir, { recursive: true });
  const state = planSandbox({
    id: randomBytes(2).toString('hex'),
    runDir: options.runDir,
    nodes: options.nodes,
    proxyMode: options.proxyMode,
    backend: options.backend,
    etcdMembers: options.etcdMembers,
    etcdTls: options.etcdTls,
    ipFamily: options.ipFamily,
  });
  writeState(state);
  if (state.etcd.tls)
    await makeEtcdPki(
      etcdPkiDir(state.runDir),
      state.etcd.members.map((m) => m.ip),
    );
  const topo = await buildTopology(state);
  for (const s of topo.missingSysctls)
    options.log(`note: ${s} is not available in the node namespaces (br_netfilter not loaded); hairpin traffic relies on masquerade`);
  const underlay = underlayIps(state.client).map((ip) => (ip.includes(':') ? 'fd00:172:30::/64' : '172.30.0.0/24'));
  const named = (x: { name: string; ip: string; ipv6?: string }): string => `${x.name}=${underlayIps(x).join(',')}`;
  options.log(
    `underlay ${underlay.join(' + ')}: ${[...state.nodes, ...state.etcd.members].map(named).join(' ')} ${named({ name: 'client', ...state.client })}`,
  );
  for (const member of state.etcd.members) {
    member.process = startEtcdMember(state, member);
    writeState(state);
  }
  await waitEtcdMembers(state, state.etcd.members);
  options.log(`etcd: ${describeEtcd(state)}`);
  await seedCluster(state);
  await startProcesses(state, options);
  return { state, reused: false };
}

async function brokenParts(state: SandboxState): Promise<string[]> {
  const have = new Set(await listNetns());
  const wanted = [state.switchNetns, state.client.netns, ...state.etcd.members.map((m) => m.netns), ...state.nodes.map((n) => n.netns)];
  const broken = wanted.filter((ns) => !have.has(ns)).map((ns) => `netns ${ns} missing`);
  const running = state.etcd.members.filter((m) => isRunning(m.process)).length;
  if (running < quorum(state.etcd.members.length)) broken.push(`${running} of ${state.etcd.members.length} etcd members running`);
  return broken;
}

/** The overlay config and the kube-dns Service, as `keel network init` and `keel apply` would write them. */
async function seedCluster(state: SandboxState): Promise<void> {
  const conn = sandboxEtcdConnection(state);
  const client = createEtcdClient(conn);
  try {
    const kv = new KvStore(client, conn.endpoints);
    const networks = clusterNetworks(state);
    await new LeaseStore(kv).putConfig(renderNetworkConfig({ network: networks.podNetwork, backend: state.backend }), false);
    const registry = new ObjectRegistry(new ObjectStore(kv, '/registry'), {
      ipam: { serviceRanges: parseServiceRange(networks.serviceRange), nodePorts: parsePortRange(DEFAULT_NODE_PORT_RANGE) },
    });
    for (const obj of kubeDnsObjects(state)) await registry.apply(obj);
  } finally {
    client.close();
  }
}

async function startProcesses(state: SandboxState, options: UpOptions): Promise<void> {
  if (options.agents && agentAvailable()) {
    for (const node of state.nodes) {
      if (isRunning(node.agent)) continue;
      node.agent = startAgent(state, node);
      writeState(state);
      options.log(`${node.name}: keel agent pid ${node.agent.pid}`);
    }
    await waitForLeases(state, options.log);
  } else if (options.agents) {
    options.log('note: this build has no `keel agent` yet; nodes run without agents');
  }
  if (!isRunning(state.controller)) {
    state.controller = startController(state, options.programPath);
    writeState(state);
    options.log(`sandbox controller (pods, replication, endpoints) pid ${state.controller.pid}`);
  }
}

/**
 * Waits (bounded) until every agent has written its subnet.env, i.e. holds
 * a lease and programmed its overlay, so pods can start right after `keel up`.
 * An agent that exits is reported with the end of its log.
 */
async function waitForLeases(state: SandboxState, log: (line: string) => void, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(state.nodes.map((n) => n.name));
  while (pending.size > 0 && Date.now() < deadline) {
    for (const node of state.nodes) {
      if (!pending.has(node.name)) continue;
      const env = await readSubnetEnv(subnetFile(state, node.name));
      if (env) {
        pending.delete(node.name);
        log(`${node.name}: subnet ${[env.subnet, env.ipv6Subnet].flatMap((s) => (s ? [s.text] : [])).join(', ')}`);
      } else if (!isRunning(node.agent)) {
        pending.delete(node.name);
        const logFile = join(state.runDir, 'logs', `agent-${node.name}.log`);
        const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ');
        log(`${node.name}: keel agent exited (${logFile}): ${tail}`);
      }
    }
    await sleep(100);
  }
  for (const name of pending) log(`${name}: no subnet lease yet after ${timeoutMs / 1000} s; pods on it wait for one`);
}
