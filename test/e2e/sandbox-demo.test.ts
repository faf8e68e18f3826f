/**
 * `keel up --demo`, what the README's first command ends with: a three-node
 * sandbox with agents and seed 004 applied; it returns once the demo
 * answers and names this sandbox's own ClusterIP and NodePort. A second run
 * reuses the sandbox (no new namespace) and finds the demo unchanged.
 * `keel status -o dot|svg` draws it (svg needs Debian's graphviz, which
 * scripts/setup-demo.sh installs).
 *
 * Address plan: underlay 172.30.0.0/24 (node-i .i, client .253, etcd .254),
 * pods 10.244.0.0/16, services 10.96.0.0/12; its own run directory, so its
 * namespaces carry a random `ks<id>-` prefix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listNetns } from '../../src/sandbox/netns.js';
import { TestSandbox } from './sandbox-support.js';

describe('keel up --demo', () => {
  const sbx = new TestSandbox();
  let first: string;

  beforeAll(async () => {
    await sbx.up(['--demo']);
    first = sbx.lastUpOutput;
  }, 180_000);

  afterAll(async () => {
    await sbx.down();
  });

  it('applies seed 004 and prints the addresses it answers on', async () => {
    expect(first).toContain('replicationcontroller/nginx-controller created');
    expect(first).toContain('service/nginx-service-clusterip created');
    const clusterIP = (await sbx.service('nginx-service-clusterip'))!.spec.clusterIP!;
    const nodePort = (await sbx.service('nginx-service-nodeport'))!.spec.ports[0]!.nodePort!;
    expect(first).toContain(`ClusterIP ${clusterIP}:8001`);
    expect(first).toContain(`keel exec --node client -- curl -s 172.30.0.1:${nodePort}`);
    expect(first).toContain(`export KEEL_RUN_DIR=${sbx.runDir}`);
    expect(first).toContain('keel down');
  });

  it('has the demo answering when it returns', async () => {
    const clusterIP = (await sbx.service('nginx-service-clusterip'))!.spec.clusterIP!;
    const body = await sbx.keelExec({ node: 'node-3' }, ['curl', '-s', '-m', '3', `${clusterIP}:8001`]);
    expect(body).toMatch(/^nginx-controller-/);
  });

  it('draws the cluster: every node, pod and service in `status -o dot`, and an SVG document from Graphviz with `-o svg`', async () => {
    const dot = await sbx.keel(['status', '-o', 'dot']);
    expect(dot.stderr).toBe('');
    expect(dot.stdout).toMatch(/^digraph keel \{\n[^]*\n\}$/);
    const services = (await sbx.objects.list('Service')).items.map((i) => i.object.metadata);
    const pods = await sbx.pods();
    expect(services.length).toBeGreaterThanOrEqual(3);
    expect(pods.length).toBeGreaterThanOrEqual(2);
    for (const node of sbx.state.nodes) expect(dot.stdout).toContain(`label="${node.name}\\n${node.ip}\\npods 10.244.`);
    for (const pod of pods) expect(dot.stdout).toContain(`"pod/${pod.metadata.namespace}/${pod.metadata.name}" [`);
    for (const svc of services) expect(dot.stdout).toContain(`"svc/${svc.namespace}/${svc.name}" [`);
    const svg = await sbx.keel(['status', '-o', 'svg']);
    expect(svg.stderr).toBe('');
    expect(svg.stdout).toMatch(/<svg [^]*<\/svg>\s*$/);
    // Graphviz writes '-' in text as &#45;.
    for (const pod of pods) expect(svg.stdout.replaceAll('&#45;', '-')).toContain(`>${pod.metadata.name}</text>`);
  });

  it('a second run reports the sandbox, duplicates nothing and finds the demo unchanged', async () => {
    const before = (await listNetns()).filter((ns) => ns.startsWith(sbx.state.prefix)).sort();
    const again = await sbx.keel(['up', '--demo']);
    expect(again.stderr).toBe('');
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain(`sandbox ${sbx.state.id} is already up`);
    expect(again.stdout).toContain('replicationcontroller/nginx-controller unchanged');
    expect(again.stdout).toContain('service/nginx-service-nodeport unchanged');
    expect((await listNetns()).filter((ns) => ns.startsWith(sbx.state.prefix)).sort()).toEqual(before);
    expect((await sbx.pods()).filter((p) => p.metadata.name.startsWith('nginx-controller-'))).toHaveLength(2);
  });
});
