import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeelError } from '../api/errors.js';
import type { Container, Pod } from '../api/pod.js';
import type { Service } from '../api/service.js';
import { renderCniConfig } from '../overlay/cni-config.js';
import { readSubnetEnv } from '../overlay/subnet-env.js';
import { nodeDir, subnetFile } from './agents.js';
import { cniAdd, cniDel } from './cni.js';
import { createNetns, deleteNetns } from './netns.js';
import { isRunning, startDetached, stopProcess } from './processes.js';
import { podLogPath, removePodRecord, writePodRecord, type PodRecord } from './pod-records.js';
import { CLUSTER_DNS_IP, CLUSTER_DOMAIN, type SandboxState } from './sandbox-state.js';
import { resolvConf, serviceEnv } from './service-env.js';
import { standInFor } from './stand-in.js';

const STAND_IN = fileURLToPath(new URL('./stand-in.js', import.meta.url));

function podNetnsName(state: SandboxState, namespace: string, name: string): string {
  // "." cannot occur in either DNS label, so namespace and name never run together ambiguously.
  return `${state.prefix}p-${namespace}.${name}`;
}

/**
 * What kubelet and a container runtime do for one pod, with processes
 * instead of images: a namespace, the network from the real CNI plugins
 * and keel's conflist, resolv.conf for cluster DNS, the service
 * environment, and each container's command (or its image's stand-in).
 */
export async function startPod(state: SandboxState, pod: Pod, services: Iterable<Service>): Promise<PodRecord> {
  const node = state.nodes.find((n) => n.name === pod.spec.nodeName);
  const subject = `pod ${pod.metadata.namespace}/${pod.metadata.name}`;
  if (!node) throw new KeelError('KEEL_CONFIG', `node ${JSON.stringify(pod.spec.nodeName)} is not a sandbox node`, { subject });
  const conflist = await conflistFor(state, node.name, subject);
  const rec: PodRecord = {
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    uid: pod.metadata.uid ?? pod.metadata.name,
    node: node.name,
    netns: podNetnsName(state, pod.metadata.namespace, pod.metadata.name),
    processes: [],
    startedAt: new Date().toISOString(),
  };
  // Recorded before anything exists, so teardown finds it after any crash.
  writePodRecord(state.runDir, rec);
  await createNetns(rec.netns);
  const { ip } = await cniAdd({ nodeNetns: node.netns, podNetns: rec.netns, containerId: rec.uid, conflist });
  rec.podIP = ip;
  const etc = join('/etc/netns', rec.netns);
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'resolv.conf'), resolvConf(rec.namespace, CLUSTER_DNS_IP, CLUSTER_DOMAIN));
  writeFileSync(join(etc, 'hosts'), `127.0.0.1 localhost\n${ip} ${pod.spec.hostname ?? pod.metadata.name}\n`);
  const baseEnv = {
    ...serviceEnv(services, rec.namespace),
    POD_NAME: rec.name,
    POD_NAMESPACE: rec.namespace,
    POD_IP: ip,
    HOSTNAME: pod.spec.hostname ?? rec.name,
  };
  rec.env = baseEnv;
  for (const c of pod.spec.containers) {
    rec.processes.push(
      startDetached({
        netns: rec.netns,
        argv: containerArgv(c),
        logFile: podLogPath(state.runDir, rec.namespace, rec.name),
        env: { ...baseEnv, ...Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value])) },
      }),
    );
  }
  writePodRecord(state.runDir, rec);
  return rec;
}

/** The container's own command, else its image's built-in stand-in on the declared ports. */
function containerArgv(c: Container): string[] {
  if (c.command?.length) return [...c.command, ...(c.args ?? [])];
  const ports = listenPorts(c);
  const s = standInFor(c.image, ports.length > 0);
  return [
    process.execPath,
    STAND_IN,
    s.kind,
    ...ports.flatMap((p) => ['--port', String(p)]),
    ...(s.replicaOf ? ['--replica-of', s.replicaOf] : []),
  ];
}

/** TCP ports the container must listen on before the pod is Ready. */
function listenPorts(c: Container): number[] {
  const declared = (c.ports ?? []).filter((p) => p.protocol === 'TCP').map((p) => p.containerPort);
  if (declared.length || c.command?.length) return declared;
  const d = standInFor(c.image, false).defaultPort;
  return d ? [d] : [];
}

export async function stopPod(state: SandboxState, rec: PodRecord): Promise<void> {
  await Promise.all(rec.processes.map((p) => stopProcess(p, 2_000)));
  const node = state.nodes.find((n) => n.name === rec.node);
  const conflist = node ? await conflistFor(state, node.name, rec.name).catch(() => undefined) : undefined;
  if (node && conflist) await cniDel({ nodeNetns: node.netns, podNetns: rec.netns, containerId: rec.uid, conflist });
  await deleteNetns(rec.netns);
  rmSync(join('/etc/netns', rec.netns), { recursive: true, force: true });
  removePodRecord(state.runDir, rec.namespace, rec.name);
}

export function podAlive(rec: PodRecord): boolean {
  return rec.processes.length > 0 && rec.processes.every(isRunning);
}

/** Ready when every process runs and every expected TCP port listens inside the pod's namespace. */
export function podReady(rec: PodRecord, pod: Pod): boolean {
  if (!podAlive(rec)) return false;
  const want = pod.spec.containers.flatMap(listenPorts);
  if (want.length === 0) return true;
  const listening = listeningPorts(rec.processes[0]?.pid ?? 0);
  return want.every((p) => listening.has(p));
}

/** /proc/PID/net/tcp shows the sockets of PID's network namespace; state 0A is LISTEN. */
function listeningPorts(pid: number): Set<number> {
  const out = new Set<number>();
  for (const file of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A') out.add(parseInt((f[1] ?? '').split(':')[1] ?? '0', 16));
    }
  }
  return out;
}

async function conflistFor(state: SandboxState, node: string, subject: string): Promise<string> {
  const env = await readSubnetEnv(subnetFile(state, node));
  if (!env)
    throw new KeelError(
      'KEEL_CONFIG',
      `node ${node} has no subnet lease yet (${subnetFile(state, node)}; is its agent running with an overlay backend?)`,
      { subject },
    );
  return renderCniConfig(env, { name: 'keel', bridge: 'cni0', dataDir: join(nodeDir(state, node), 'cni-ipam') });
}
