/**
 * Pods in the sandbox without agents: the overlay's part (subnet.env per
 * node) is written by the test, so this suite checks what the sandbox
 * itself does — replication over nodes, real CNI plugins, stand-ins,
 * endpoints from selectors, resolv.conf and service env, self-healing,
 * keel exec, and a clean keel down. Traffic stays on one node (no overlay).
 *
 * Address plan: underlay 172.30.0.0/24 (node-1 .1, node-2 .2), pods
 * 10.244.<node>.0/24, services from 10.96.0.0/12.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listNetns } from '../../src/sandbox/netns.js';
import { listPodRecords } from '../../src/sandbox/pod-records.js';
import { isRunning } from '../../src/sandbox/processes.js';
import { TestSandbox, until } from './sandbox-support.js';

const RC = `
apiVersion: v1
kind: ReplicationController
metadata: { name: nginx-controller }
spec:
  replicas: 2
  selector: { name: nginx }
  template:
    metadata: { labels: { name: nginx } }
    spec:
      containers:
        - name: nginx
          image: nginx
          ports: [{ containerPort: 80 }]
`;

const DEPLOYMENT = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: frontend }
spec:
  replicas: 1
  selector:
    matchLabels: { app: frontend }
    matchExpressions: [{ key: tier, operator: NotIn, values: [backend] }]
  template:
    metadata: { labels: { app: frontend, tier: web } }
    spec:
      containers:
        - name: web
          image: busybox
          command: [socat, "TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo hello-from-command"]
          ports: [{ containerPort: 8080 }]
`;

describe('sandbox pods (no agents)', () => {
  const sbx = new TestSandbox();

  beforeAll(async () => {
    await sbx.up(['--no-agents', '--nodes', '2']);
    for (const [i, node] of sbx.state.nodes.entries()) {
      const dir = join(sbx.runDir, 'nodes', node.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'subnet.env'),
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${i + 1}.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`,
      );
    }
    const svc = await sbx.keel(['apply', '-f', 'fixtures/seed/nginx/']);
    expect(svc.exitCode).toBe(0);
  });

  afterAll(async () => {
    await sbx.down();
  });

  it("runs an RC's replicas on different nodes, each answering with its name", async () => {
    writeFileSync(join(sbx.runDir, 'rc.yaml'), RC);
    expect((await sbx.keel(['apply', '-f', join(sbx.runDir, 'rc.yaml')])).stdout).toContain(
      'replicationcontroller/nginx-controller created',
    );
    const pods = await sbx.readyPods('nginx-controller-', 2);
    expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBe(2);
    for (const pod of pods) {
      const node = sbx.state.nodes.find((n) => n.name === pod.spec.nodeName)!;
      expect(pod.status?.hostIP).toBe(node.ip);
      expect(pod.status?.podIP).toMatch(new RegExp(`^10\\.244\\.${node.name.slice(5)}\\.`));
      expect(await sbx.exec({ node: node.name }, ['curl', '-s', '-m', '3', `http://${pod.status?.podIP}/`])).toBe(pod.metadata.name);
    }
    const ips = pods.map((p) => p.status!.podIP!).sort();
    await until(
      'endpoints of both pods',
      async () => JSON.stringify(await sbx.endpointIps('nginx-service-clusterip')) === JSON.stringify(ips),
    );
  });

  it('gives pods the cluster resolv.conf and the service environment', async () => {
    const [pod] = await sbx.readyPods('nginx-controller-', 2);
    const name = pod!.metadata.name;
    expect(await sbx.keelExec({ pod: name }, ['cat', '/etc/resolv.conf'])).toContain('nameserver 10.96.0.10');
    const svc = await sbx.service('nginx-service-clusterip');
    expect(
      await sbx.keelExec({ pod: name }, ['sh', '-c', 'echo $NGINX_SERVICE_CLUSTERIP_SERVICE_HOST:$NGINX_SERVICE_CLUSTERIP_SERVICE_PORT']),
    ).toBe(`${svc?.spec.clusterIP}:8001`);
  });

  it('replaces a killed pod: its endpoint leaves and a new replica serves', async () => {
    const before = await sbx.readyPods('nginx-controller-', 2);
    const victim = before[0]!;
    const rec = listPodRecords(sbx.runDir).find((r) => r.name === victim.metadata.name)!;
    process.kill(rec.processes[0]!.pid, 'SIGKILL');
    await until(
      "the killed pod's endpoint to leave",
      async () => !(await sbx.endpointIps('nginx-service-clusterip')).includes(victim.status!.podIP!),
    );
    const after = await until('a replacement', async () => {
      const pods = await sbx.readyPods('nginx-controller-', 2);
      return pods.some((p) => p.metadata.name === victim.metadata.name) ? undefined : pods;
    });
    await until('endpoints of the new set', async () => (await sbx.endpointIps('nginx-service-clusterip')).length === 2);
    expect(after.map((p) => p.metadata.name)).not.toContain(victim.metadata.name);
    expect(await listNetns()).not.toContain(rec.netns);
  });

  it("runs a Deployment with a set-based selector and the container's own command", async () => {
    writeFileSync(join(sbx.runDir, 'deploy.yaml'), DEPLOYMENT);
    expect((await sbx.keel(['apply', '-f', join(sbx.runDir, 'deploy.yaml')])).exitCode).toBe(0);
    const [pod] = await sbx.readyPods('frontend-', 1);
    expect(await sbx.exec({ node: pod!.spec.nodeName! }, ['curl', '-s', '-m', '3', `telnet://${pod!.status!.podIP}:8080`])).toBe(
      'hello-from-command',
    );
  });

  it("deletes a Deployment's pods with it", async () => {
    const del = await sbx.keel(['delete', '-f', join(sbx.runDir, 'deploy.yaml')]);
    expect(del.stdout).toContain('deployment "frontend" deleted');
    await until('the frontend pod to go', async () => !listPodRecords(sbx.runDir).some((r) => r.name.startsWith('frontend-')));
    expect((await sbx.pods()).filter((p) => p.metadata.name.startsWith('frontend-'))).toEqual([]);
  });

  it('keel down removes pods, namespaces, processes and /etc/netns entries', async () => {
    const records = listPodRecords(sbx.runDir);
    expect(records.length).toBe(2);
    const down = await sbx.keel(['down', '--run-dir', sbx.runDir]);
    expect(down.exitCode).toBe(0);
    expect((await listNetns()).filter((n) => n.startsWith(sbx.state.prefix))).toEqual([]);
    for (const r of records) for (const p of r.processes) expect(isRunning(p)).toBe(false);
    expect(existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith(sbx.state.prefix)) : []).toEqual([]);
  });
});
