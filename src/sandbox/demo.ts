import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { KeelError } from '../api/errors.js';
import { isPodReady, type Pod } from '../api/pod.js';
import type { ObjectStore } from '../store/object-store.js';
import { readPodRecord } from './pod-records.js';
import { sleep } from '../runtime/backoff.js';
import { DEFAULT_RUN_DIR, hostPort, underlayIps, type SandboxState } from './sandbox-state.js';

/** Seed 004's manifests: the nginx ReplicationController, its ClusterIP and its NodePort service. */
export const DEMO_MANIFESTS = fileURLToPath(new URL('../../../fixtures/sandbox/nginx/', import.meta.url));
const CLUSTERIP_SERVICE = 'nginx-service-clusterip';
const NODEPORT_SERVICE = 'nginx-service-nodeport';
const POD_PREFIX = 'nginx-controller-';

/** What the demo answers on, once it answers. */
export interface DemoView {
  clusterIP: string;
  /** One per family the sandbox has (the services ask PreferDualStack), clusterIP first. */
  clusterIPs: string[];
  port: number;
  nodePort: number;
  pods: Pod[];
  /** A node without a replica (else node-1): its requests cross the overlay. */
  probeNode: string;
}

/**
 * Waits until the demo answers as a user will try it: every nginx pod
 * ready, the ClusterIP from a node, the NodePort from the external client,
 * and the service's name from a pod through the cluster DNS. The timeout
 * error names the check that still failed.
 */
export async function waitForDemo(state: SandboxState, objects: ObjectStore, timeoutMs = 120_000): Promise<DemoView> {
  const deadline = Date.now() + timeoutMs;
  let pending = 'the nginx services';
  for (;;) {
    const view = await readDemo(state, objects);
    if (view) {
      pending = await failingCheck(state, view);
      if (!pending) return view;
    }
    if (Date.now() > deadline)
      throw new KeelError(
        'KEEL_CONFIG',
        `seed 004 demo does not answer after ${timeoutMs / 1000} s: ${pending} (logs in ${state.runDir}/logs)`,
        { subject: `sandbox ${state.id}` },
      );
    await sleep(250);
  }
}

async function readDemo(state: SandboxState, objects: ObjectStore): Promise<DemoView | undefined> {
  const cip = (await objects.get('Service', 'default', CLUSTERIP_SERVICE))?.object;
  const np = (await objects.get('Service', 'default', NODEPORT_SERVICE))?.object;
  const pods = (await objects.list('Pod', 'default')).items.map((i) => i.object).filter((p) => p.metadata.name.startsWith(POD_PREFIX));
  const clusterIP = cip?.spec.clusterIP;
  const clusterIPs = cip?.spec.clusterIPs ?? (clusterIP ? [clusterIP] : []);
  const port = cip?.spec.ports[0]?.port;
  const nodePort = np?.spec.ports[0]?.nodePort;
  if (!clusterIP || !port || !nodePort || pods.length === 0 || !pods.every(isPodReady)) return undefined;
  pods.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const busy = new Set(pods.map((p) => p.spec.nodeName));
  const probeNode = (state.nodes.find((n) => !busy.has(n.name)) ?? state.nodes[0])?.name ?? 'node-1';
  return { clusterIP, clusterIPs, port, nodePort, pods, probeNode };
}

/** The first check that fails, or '' when all pass. */
async function failingCheck(state: SandboxState, view: DemoView): Promise<string> {
  const names = view.pods.map((p) => p.metadata.name);
  const node = state.nodes.find((n) => n.name === view.probeNode);
  const firstNode = state.nodes[0];
  if (!node || !firstNode) return 'a node to probe from';
  for (const ip of view.clusterIPs) {
    const target = hostPort(ip, view.port);
    if (!names.includes(await inNetns(node.netns, ['curl', '-s', '-g', '-m', '2', `http://${target}/`]))) {
      return `ClusterIP ${target} from ${node.name}`;
    }
  }
  for (const ip of underlayIps(firstNode)) {
    const target = hostPort(ip, view.nodePort);
    if (!names.includes(await inNetns(state.client.netns, ['curl', '-s', '-g', '-m', '2', `http://${target}/`]))) {
      return `NodePort ${target} from the client`;
    }
  }
  const pod = view.pods[0];
  const rec = pod && readPodRecord(state.runDir, 'default', pod.metadata.name);
  const dns = `${CLUSTERIP_SERVICE}.default.svc.cluster.local`;
  for (const ip of view.clusterIPs) {
    const type = ip.includes(':') ? 'AAAA' : 'A';
    if (!rec || (await inNetns(rec.netns, ['dig', '+short', '+time=1', '+tries=1', type, dns])) !== ip) return `${dns} ${type} from a pod`;
  }
  return '';
}

/** `keel rules` prints the families of its --cluster-cidr, IPv4 by default: name the sandbox's. */
function rulesFamily(state: SandboxState): string {
  return state.ipFamily === 'dual' ? ' --ip-family both' : state.ipFamily === 'ipv6' ? ' --ip-family 6' : '';
}

/** curl reads `[…]` as a glob unless told -g. */
function curlG(ip: string): string {
  return ip.includes(':') ? ' -g' : '';
}

async function inNetns(netns: string, cmd: string[]): Promise<string> {
  const res = await execa('ip', ['netns', 'exec', netns, ...cmd], { reject: false, timeout: 5_000 });
  return String(res.stdout).trim();
}

/** The lines `keel up --demo` ends with: what to try, with this sandbox's own addresses. */
export function demoNextSteps(state: SandboxState, view: DemoView): string[] {
  const pod = view.pods[0];
  const firstNode = state.nodes[0];
  const env =
    state.runDir === DEFAULT_RUN_DIR ? [] : [`  export KEEL_RUN_DIR=${state.runDir}   # so later keel commands find this sandbox`];
  return [
    `seed 004 demo answers: ${view.pods.map((p) => `${p.metadata.name} on ${p.spec.nodeName ?? '?'}`).join(', ')}`,
    `  ${CLUSTERIP_SERVICE}  ClusterIP ${view.clusterIPs.map((ip) => hostPort(ip, view.port)).join(' ')}`,
    `  ${NODEPORT_SERVICE}   NodePort ${view.nodePort} on every node (${state.nodes.flatMap(underlayIps).join(', ')})`,
    '',
    'Try next:',
    ...env,
    '  keel get pods -o wide',
    ...view.clusterIPs.map((ip) => `  keel exec --node ${view.probeNode} -- curl -s${curlG(ip)} ${hostPort(ip, view.port)}`),
    ...(firstNode
      ? underlayIps(firstNode).map((ip) => `  keel exec --node client -- curl -s${curlG(ip)} ${hostPort(ip, view.nodePort)}`)
      : []),
    ...(pod
      ? view.clusterIPs.map(
          (ip) =>
            `  keel exec ${pod.metadata.name} -- dig +short${ip.includes(':') ? ' AAAA' : ''} ${CLUSTERIP_SERVICE}.default.svc.cluster.local`,
        )
      : []),
    `  keel exec --node ${view.probeNode} -- keel rules${rulesFamily(state)} | grep ${CLUSTERIP_SERVICE}`,
    ...(pod?.status?.podIP ? [`  keel trace --src ${pod.status.podIP} --dst ${hostPort(view.clusterIP, view.port)}/tcp --from pod`] : []),
    `  keel describe service ${CLUSTERIP_SERVICE}`,
    '  keel status',
    '  keel down',
  ];
}
