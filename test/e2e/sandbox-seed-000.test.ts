/**
 * Seed 000 (guestbook) end to end in a `keel up` sandbox with agents
 * (iptables proxy, vxlan): the slaves find the master through
 * REDIS_MASTER_SERVICE_HOST and through DNS, the master's data is reachable
 * through its ClusterIP, the frontend answers on NodePort 30001 on every
 * node, and a killed frontend pod leaves the endpoints and is replaced
 * while requests keep succeeding.
 *
 * Address plan: underlay 172.30.0.0/24 (node-i .i, client .253, etcd .254),
 * pods 10.244.0.0/16, services 10.96.0.0/12.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listPodRecords } from '../../src/sandbox/pod-records.js';
import { TestSandbox, until } from './sandbox-support.js';

describe('seed 000: guestbook', () => {
  const sbx = new TestSandbox();
  let masterIP: string;

  beforeAll(async () => {
    await sbx.up(['--nodes', '3']);
    const applied = await sbx.keel(['apply', '-f', 'fixtures/sandbox/guestbook/']);
    expect(applied.stderr).toBe('');
    await Promise.all([sbx.readyPods('redis-master-', 1), sbx.readyPods('redis-slave-', 2), sbx.readyPods('frontend-', 3)]);
    masterIP = (await sbx.service('redis-master'))!.spec.clusterIP!;
  }, 120_000);

  afterAll(async () => {
    await sbx.down();
  });

  const redis = (pod: string, host: string, command: string): Promise<string> =>
    sbx.exec({ pod }, ['sh', '-c', `printf '${command}\\r\\n' | socat -t2 - TCP:${host}:6379`]);

  it('lets the slaves find the master through REDIS_MASTER_SERVICE_HOST', async () => {
    for (const slave of await sbx.readyPods('redis-slave-', 2)) {
      const name = slave.metadata.name;
      expect(await sbx.keelExec({ pod: name }, ['sh', '-c', 'echo $REDIS_MASTER_SERVICE_HOST'])).toBe(masterIP);
      const info = await until(`${name}'s link to the master`, async () => {
        const text = await redis(name, '127.0.0.1', 'INFO');
        return text.includes('master_link_status:up') ? text : undefined;
      });
      expect(info).toContain(`master_host:${masterIP}`);
    }
  });

  it('resolves the master by name through the cluster DNS', async () => {
    const [slave] = await sbx.readyPods('redis-slave-', 2);
    expect(
      await sbx.exec({ pod: slave!.metadata.name }, ['dig', '+short', '+time=2', '+tries=2', 'redis-master.default.svc.cluster.local']),
    ).toBe(masterIP);
    expect(await sbx.exec({ pod: slave!.metadata.name }, ['dig', '+short', '+time=2', '+tries=2', '+search', 'redis-master'])).toBe(
      masterIP,
    );
  });

  it("stores and reads through the master's ClusterIP from a frontend pod", async () => {
    const [front] = await sbx.readyPods('frontend-', 3);
    expect(await redis(front!.metadata.name, masterIP, 'SET messages hello')).toBe('+OK');
    expect(await redis(front!.metadata.name, 'redis-master', 'GET messages')).toContain('hello');
  });

  it('answers on NodePort 30001 on every node from the external client', async () => {
    const names = (await sbx.readyPods('frontend-', 3)).map((p) => p.metadata.name);
    for (const node of sbx.state.nodes) {
      expect(names).toContain(await sbx.exec({ node: 'client' }, ['curl', '-s', '-m', '3', `http://${node.ip}:30001/`]));
    }
  });

  it('drops a killed frontend from the endpoints, keeps answering, and replaces it', async () => {
    const before = await sbx.readyPods('frontend-', 3);
    const victim = before[0]!;
    const rec = listPodRecords(sbx.runDir).find((r) => r.name === victim.metadata.name)!;
    process.kill(rec.processes[0]!.pid, 'SIGKILL');
    await until('the endpoint to leave', async () => !(await sbx.endpointIps('frontend')).includes(victim.status!.podIP!));
    for (let i = 0; i < 10; i++) {
      const body = await sbx.exec({ node: 'client' }, ['curl', '-s', '-m', '3', `http://${sbx.state.nodes[i % 3]!.ip}:30001/`]);
      expect(body).toMatch(/^frontend-/);
      expect(body).not.toBe(victim.metadata.name);
    }
    const after = await until('a replacement', async () => {
      const pods = await sbx.readyPods('frontend-', 3);
      return pods.some((p) => p.metadata.name === victim.metadata.name) ? undefined : pods;
    });
    expect(after).toHaveLength(3);
  });
});
