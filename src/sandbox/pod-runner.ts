import { accessSync, constants, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
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
import { planContainer, type ContainerProgram } from './container-program.js';
import { podDir, podLogPath, removePodRecord, writePodRecord, type PodRecord } from './pod-records.js';
import { CLUSTER_DOMAIN, clusterNetworks, type SandboxState } from './sandbox-state.js';
import { resolvConf, serviceEnv } from './service-env.js';
import { standInFor } from './stand-in.js';

const STAND_IN = fileURLToPath(new URL('./stand-in.js', import.meta.url));
const GUESTBOOK = fileURLToPath(new URL('./guestbook-frontend.js', import.meta.url));

export interface PodRunOptions {
  /** Where Debian's programs (nginx, redis-server) are looked for: a PATH-style list (`keel up --program-path`). */
  programPath: string;
  /** One line per note worth a user's eye (a program that is not installed). */
  log: (line: string) => void;
}

function podNetnsName(state: SandboxState, namespace: string, name: string): string {
  // "." cannot occur in either DNS label, so namespace and name never run together ambiguously.
  return `${state.prefix}p-${namespace}.${name}`;
}

/**
 * What kubelet and a container runtime do for one pod, with processes
 * instead of images: a namespace, the network from the real CNI plugins
 * and keel's conflist, resolv.conf for cluster DNS, the service
 * environment, and for each container its command, else Debian's program
 * for its image, else keel's program or stand-in for it, in its own
 * directory under the run directory.
 */
export async function startPod(state: SandboxState, pod: Pod, services: Iterable<Service>, options: PodRunOptions): Promise<PodRecord> {
  const node = state.nodes.find((n) => n.name === pod.spec.nodeName);
  const subject = `pod ${pod.metadata.namespace}/${pod.metadata.name}`;
  if (!node) throw new KeelError('KEEL_CONFIG', `node ${JSON.stringify(pod.spec.nodeName)} is not a sandbox node`, { subject });
  const conflist = await conflistFor(state, node.name, subject);
  const svcEnv = serviceEnv(services, pod.metadata.namespace);
  const dir = podDir(state.runDir, pod.metadata.namespace, pod.metadata.name);
  const findProgram = (name: string): string | undefined => findOnPath(name, options.programPath);
  // Planned before anything exists: a container that cannot start yet (no redis-master service) leaves nothing behind.
  const containers = pod.spec.containers.map((c) => {
    const env = { ...svcEnv, ...containerEnv(c) };
    const ctx = { pod: pod.metadata.name, dir: join(dir, c.name), env, ports: listenPorts(c), findProgram };
    return { c, plan: planContainer(c, { ...ctx, node: process.execPath, standIn: STAND_IN, guestbook: GUESTBOOK }) };
  });
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
  const { ips } = await cniAdd({ nodeNetns: node.netns, podNetns: rec.netns, containerId: rec.uid, conflist });
  const ip = ips[0] as string;
  rec.podIP = ip;
  rec.podIPs = ips;
  const etc = join('/etc/netns', rec.netns);
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'resolv.conf'), resolvConf(rec.namespace, clusterNetworks(state).dnsIp, CLUSTER_DOMAIN));
  writeFileSync(join(etc, 'hosts'), `127.0.0.1 localhost\n${ips.map((a) => `${a} ${pod.spec.hostname ?? pod.metadata.name}\n`).join('')}`);
  const baseEnv = {
    ...svcEnv,
    POD_NAME: rec.name,
    POD_NAMESPACE: rec.namespace,
    POD_IP: ip,
    HOSTNAME: pod.spec.hostname ?? rec.name,
  };
  rec.env = baseEnv;
  rec.programs = containers.map(({ plan }) => plan.program);
  for (const { c, plan } of containers) {
    if (plan.fallback) options.log(`${subject} container ${c.name} (image ${c.image ?? '<none>'}): ${plan.fallback}`);
    writeFiles(join(dir, c.name), plan);
    rec.processes.push(
      startDetached({
        netns: rec.netns,
        argv: plan.argv,
        cwd: join(dir, c.name),
        logFile: podLogPath(state.runDir, rec.namespace, rec.name),
        env: { ...baseEnv, ...containerEnv(c) },
      }),
    );
  }
  writePodRecord(state.runDir, rec);
  return rec;
}

function containerEnv(c: Container): Record<string, string> {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
}

function writeFiles(dir: string, plan: ContainerProgram): void {
  mkdirSync(dir, { recursive: true });
  for (const [path, content] of Object.entries(plan.files)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
}

/** The first executable `name` in a PATH-style list, as a shell would find it. */
function findOnPath(name: string, path: string): string | undefined {
  for (const d of path.split(delimiter).filter(Boolean)) {
    const candidate = join(d, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
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
  rmSync(podDir(state.runDir, rec.namespace, rec.name), { recursive: true, force: true });
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
