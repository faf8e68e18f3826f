import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { KeelError } from '../api/errors.js';
import { isPodReady, type Pod } from '../api/pod.js';
import type { ObjectStore } from '../store/object-store.js';
import { readPodRecord } from './pod-records.js';
import { sleep } from '../runtime/backoff.js';
import { DEFAULT_RUN_DIR, type SandboxState } from './sandbox-state.js';

/** Seed 004's manifests: the nginx ReplicationController, its ClusterIP and its NodePort service. */
export const DEMO_MANIFESTS = fileURLToPath(new URL('../../../fixtures/sandbox/nginx/', import.meta.url));
const CLUSTERIP_SERVICE = 'nginx-service-clusterip';
const NODEPORT_SERVICE = 'nginx-service-nodeport';
const POD_PREFIX = 'nginx-controller-';

/** What the demo answers on, once it answers. */
export interface DemoView {
  clusterIP: string;
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
  const port = cip?.spec.ports[0]?.port;
  const nodePort = np?.spec.ports[0]?.nodePort;
  if (!clusterIP || !port || !nodePort || pods.length === 0 || !pods.every(isPodReady)) return undefined;
  pods.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const busy = new Set(pods.map((p) => p.spec.nodeName));
  const probeNode = (state.nodes.find((n) => !busy.has(n.name)) ?? state.nodes[0])?.name ?? 'node-1';
  return { clusterIP, port, nodePort, pods, probeNode };
}

/** The first check that fails, or '' when all pass. */
async function failingCheck(state: SandboxState, view: DemoView): Promise<string> {
  const names = view.pods.map((p) => p.metadata.name);
  const node = state.nodes.find((n) => n.name === view.probeNode);
  const firstNode = state.nodes[0];
  if (!node || !firstNode) return 'a node to probe from';
  if (!names.includes(await inNetns(node.netns, ['curl', '-s', '-m', '2', `http://${view.clusterIP}:${view.port}/`]))) {
    return `ClusterIP ${view.clusterIP}:${view.port} from ${node.name}`;
  }
  if (!names.includes(await inNetns(state.client.netns, ['curl', '-s', '-m', '2', `http://${firstNode.ip}:${view.nodePort}/`]))) {
    return `NodePort ${firstNode.ip}:${view.nodePort} from the client`;
  }
  const pod = view.pods[0];
  const rec = pod && readPodRecord(state.runDir, 'default', pod.metadata.name);
  const dns = `${CLUSTERIP_SERVICE}.default.svc.cluster.local`;
  if (!rec || (await inNetns(rec.netns, ['dig', '+short', '+time=1', '+tries=1', dns])) !== view.clusterIP) return `${dns} from a pod`;
  return '';
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
    `  ${CLUSTERIP_SERVICE}  ClusterIP ${view.clusterIP}:${view.port}`,
    `  ${NODEPORT_SERVICE}   NodePort ${view.nodePort} on every node (${state.nodes.map((n) => n.ip).join(', ')})`,
    '',
    'Try next:',
    ...env,
    '  keel get pods -o wide',
    `  keel exec --node ${view.probeNode} -- curl -s ${view.clusterIP}:${view.port}`,
    ...(firstNode ? [`  keel exec --node client -- curl -s ${firstNode.ip}:${view.nodePort}`] : []),
    ...(pod ? [`  keel exec ${pod.metadata.name} -- dig +short ${CLUSTERIP_SERVICE}.default.svc.cluster.local`] : []),
    `  keel exec --node ${view.probeNode} -- keel rules | grep ${CLUSTERIP_SERVICE}`,
    ...(pod?.status?.podIP ? [`  keel trace --src ${pod.status.podIP} --dst ${view.clusterIP}:${view.port}/tcp --from pod`] : []),
    `  keel describe service ${CLUSTERIP_SERVICE}`,
    '  keel status',
    '  keel down',
  ];
}
