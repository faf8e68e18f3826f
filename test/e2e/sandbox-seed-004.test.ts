/**
 * Seed 004 end to end in a `keel up` sandbox with agents: nginx with 2
 * replicas on two nodes; the ClusterIP service (8001 → 80) answers from the
 * third node and from a pod there; the NodePort answers on every node's IP
 * from the external client namespace; the node's live nat table holds the
 * service. Once per proxy mode, with the vxlan and udp backends.
 *
 * Address plan: underlay 172.30.0.0/24 (node-i .i, client .253, etcd .254),
 * pods 10.244.0.0/16 (a /24 per node leased by the agents), services 10.96.0.0/12.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../src/api/pod.js';
import { TestSandbox, until } from './sandbox-support.js';

const MODES = [
  { proxyMode: 'iptables', backend: 'vxlan' },
  { proxyMode: 'userspace', backend: 'udp' },
] as const;

describe.each(MODES)('seed 004 (proxy $proxyMode, backend $backend)', ({ proxyMode, backend }) => {
  const sbx = new TestSandbox();
  let nginx: Pod[];
  let third: string;
  let clusterIP: string;
  let nodePort: number;

  beforeAll(async () => {
    await sbx.up(['--nodes', '3', '--proxy-mode', proxyMode, '--backend', backend]);
    const applied = await sbx.keel(['apply', '-f', 'fixtures/sandbox/nginx/']);
    expect(applied.stderr).toBe('');
    nginx = await sbx.readyPods('nginx-controller-', 2);
    third = sbx.state.nodes.map((n) => n.name).find((n) => !nginx.some((p) => p.spec.nodeName === n))!;
    const cip = await sbx.service('nginx-service-clusterip');
    const np = await sbx.service('nginx-service-nodeport');
    clusterIP = cip!.spec.clusterIP!;
    nodePort = np!.spec.ports[0]!.nodePort!;
    const ips = nginx.map((p) => p.status!.podIP!).sort();
    await until('endpoints of both replicas', async () => JSON.stringify(await sbx.endpointIps('nginx-service-nodeport')) === JSON.stringify(ips));
  }, 120_000);

  afterAll(async () => {
    await sbx.down();
  });

  /** Requests until every replica has answered; every answer must name a replica. */
  async function answersFromBoth(target: { node: string } | { pod: string }, url: string): Promise<void> {
    const names = nginx.map((p) => p.metadata.name);
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < names.length; i++) {
      const body = await sbx.exec(target, ['curl', '-s', '-m', '3', url]);
      expect(names).toContain(body);
      seen.add(body);
    }
    expect([...seen].sort()).toEqual([...names].sort());
  }

  it('runs the two replicas on two different nodes', () => {
    expect(new Set(nginx.map((p) => p.spec.nodeName)).size).toBe(2);
  });

  it('answers on the ClusterIP from the third node', async () => {
    await until('the rules on the third node', async () => (await sbx.exec({ node: third }, ['curl', '-s', '-m', '2', `http://${clusterIP}:8001/`])) !== '');
    await answersFromBoth({ node: third }, `http://${clusterIP}:8001/`);
  });

  it('answers on the ClusterIP from a pod on the third node', async () => {
    const manifest = join(sbx.runDir, 'client-pod.yaml');
    writeFileSync(manifest, `apiVersion: v1\nkind: Pod\nmetadata: { name: client }\nspec:\n  nodeName: ${third}\n  containers: [{ name: client, image: busybox, command: [sleep, "3600"] }]\n`);
    expect((await sbx.keel(['apply', '-f', manifest])).exitCode).toBe(0);
    await sbx.readyPods('client', 1);
    await answersFromBoth({ pod: 'client' }, `http://${clusterIP}:8001/`);
    // …and by name, through the cluster DNS.
    expect(await sbx.exec({ pod: 'client' }, ['dig', '+short', '+time=2', '+tries=2', 'nginx-service-clusterip.default.svc.cluster.local'])).toBe(clusterIP);
  });

  it('answers on the NodePort of every node from the external client', async () => {
    for (const node of sbx.state.nodes) {
      const body = await sbx.exec({ node: 'client' }, ['curl', '-s', '-m', '3', `http://${node.ip}:${nodePort}/`]);
      expect(nginx.map((p) => p.metadata.name)).toContain(body);
    }
  });

  it('shows the service in the node\'s live nat table', async () => {
    const nat = await sbx.keelExec({ node: third }, ['iptables-save', '-t', 'nat']);
    expect(nat).toContain(`${clusterIP}/32`);
    expect(nat).toContain('KUBE-');
  });
});
