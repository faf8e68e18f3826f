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
import { isRunning, sleep } from './processes.js';
import { startController } from './controller-process.js';
import { startSandboxEtcd, waitSandboxEtcd } from './sandbox-etcd.js';
import { POD_NETWORK, etcdSocketUrl, planSandbox, readState, writeState, type SandboxState } from './sandbox-state.js';
import { buildTopology } from './topology.js';

export interface UpOptions {
  runDir: string;
  nodes: number;
  proxyMode: string;
  backend: string;
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
      throw new ConfigError(`sandbox ${existing.id}`, `${options.runDir} holds a sandbox that is not fully up (${broken.join(', ')}); run \`keel down\` first`);
    }
    options.log(`sandbox ${existing.id} is already up in ${options.runDir}`);
    await startProcesses(existing, options);
    return { state: existing, reused: true };
  }
  mkdirSync(options.runDir, { recursive: true });
  const state = planSandbox({ id: randomBytes(2).toString('hex'), runDir: options.runDir, nodes: options.nodes, proxyMode: options.proxyMode, backend: options.backend });
  writeState(state);
  const topo = await buildTopology(state);
  for (const s of topo.missingSysctls) options.log(`note: ${s} is not available in the node namespaces (br_netfilter not loaded); hairpin traffic relies on masquerade`);
  options.log(`underlay 172.30.0.0/24: ${state.nodes.map((n) => `${n.name}=${n.ip}`).join(' ')} etcd=${state.etcd.ip} client=${state.client.ip}`);
  state.etcd.process = startSandboxEtcd(state);
  writeState(state);
  await waitSandboxEtcd(state, state.etcd.process);
  await seedCluster(state);
  await startProcesses(state, options);
  return { state, reused: false };
}

async function brokenParts(state: SandboxState): Promise<string[]> {
  const have = new Set(await listNetns());
  const wanted = [state.switchNetns, state.etcd.netns, state.client.netns, ...state.nodes.map((n) => n.netns)];
  const broken = wanted.filter((ns) => !have.has(ns)).map((ns) => `netns ${ns} missing`);
  if (!isRunning(state.etcd.process)) broken.push('etcd not running');
  return broken;
}

/** The overlay config and the kube-dns Service, as `keel network init` and `keel apply` would write them. */
async function seedCluster(state: SandboxState): Promise<void> {
  const url = etcdSocketUrl(state.runDir);
  const client = createEtcdClient({ endpoints: [url] });
  try {
    const kv = new KvStore(client, [url]);
    await new LeaseStore(kv).putConfig(renderNetworkConfig({ network: POD_NETWORK, backend: state.backend }), false);
    const registry = new ObjectRegistry(new ObjectStore(kv, '/registry'), {
      ipam: { serviceRanges: parseServiceRange('10.96.0.0/12'), nodePorts: parsePortRange(DEFAULT_NODE_PORT_RANGE) },
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
    state.controller = startController(state);
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
        log(`${node.name}: subnet ${env.subnet.text}`);
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
