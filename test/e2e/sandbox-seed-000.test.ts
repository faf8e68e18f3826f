/**
 * Seed 000 (guestbook) end to end in a `keel up` sandbox with agents
 * (vxlan), once per proxy mode, with the real programs: Debian's
 * redis-server for the master and the slaves (`--replicaof` the master
 * found through REDIS_MASTER_SERVICE_HOST), keel's guestbook frontend
 * answering as guestbook.php does. A message written through one node's
 * NodePort 30001 is read back through another node's from a slave on the
 * third; a slave whose redis-server is killed shows as Failed and is
 * replaced by its ReplicationController.
 *
 * Address plan: underlay 172.30.0.0/24 (node-i .i, client .253, etcd .254),
 * pods 10.244.0.0/16, services 10.96.0.0/12. Namespaces carry the
 * sandbox's random `ks<id>-` prefix; `keel down` removes them.
 */
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../src/api/pod.js';
import { listPodRecords } from '../../src/sandbox/pod-records.js';
import { KEEL_BIN } from '../support/keel-cli.js';
import { TestSandbox, until } from './sandbox-support.js';

describe.each(['iptables', 'userspace'])('seed 000: guestbook with real redis, proxy %s', (proxyMode) => {
  const sbx = new TestSandbox();
  let masterIP: string;

  beforeAll(async () => {
    await sbx.up(['--nodes', '3', '--proxy-mode', proxyMode]);
    const applied = await sbx.keel(['apply', '-f', 'fixtures/sandbox/guestbook/']);
    expect(applied.stderr).toBe('');
    await Promise.all([sbx.readyPods('redis-master-', 1), sbx.readyPods('redis-slave-', 2), sbx.readyPods('frontend-', 3)]);
    masterIP = (await sbx.service('redis-master'))!.spec.clusterIP!;
  }, 120_000);

  afterAll(async () => {
    await sbx.down();
  });

  const redisCli = (pod: string, ...args: string[]): Promise<string> => sbx.exec({ pod }, ['redis-cli', '-h', '127.0.0.1', ...args]);
  const nodeOf = (name: string) => sbx.state.nodes.find((n) => n.name === name)!;
  const linkUp = (slave: string): Promise<string> =>
    until(`${slave}'s link to the master`, async () => {
      const info = await redisCli(slave, 'INFO', 'replication');
      return info.includes('master_link_status:up') ? info : undefined;
    });

  it('runs redis-server and the guestbook frontend, named in get pods -o wide', async () => {
    const table = (await sbx.keel(['get', 'pods', '-o', 'wide'])).stdout;
    expect(table.split('\n')[0]).toMatch(/\bPROGRAM$/);
    for (const line of table.split('\n').slice(1).filter(Boolean)) {
      const program = line.trim().split(/\s+/).pop();
      expect(program).toBe(line.startsWith('frontend-') ? 'guestbook' : 'redis-server');
    }
  });

  it('replicates each slave from the master through its ClusterIP, as INFO replication shows', async () => {
    const [master] = await sbx.readyPods('redis-master-', 1);
    const slaves = await sbx.readyPods('redis-slave-', 2);
    // The scheduler spreads a controller's pods: at least one slave replicates across nodes through the overlay.
    expect(slaves.some((s) => s.spec.nodeName !== master!.spec.nodeName)).toBe(true);
    for (const slave of slaves) {
      const name = slave.metadata.name;
      expect(await sbx.keelExec({ pod: name }, ['sh', '-c', 'echo $REDIS_MASTER_SERVICE_HOST'])).toBe(masterIP);
      const info = await linkUp(name);
      expect(info).toContain('role:slave');
      expect(info).toContain(`master_host:${masterIP}`);
      expect(info).toContain('master_port:6379');
    }
    expect(await redisCli(master!.metadata.name, 'INFO', 'replication')).toContain('connected_slaves:2');
  });

  it('resolves the master by name through the cluster DNS', async () => {
    const [slave] = await sbx.readyPods('redis-slave-', 2);
    expect(await sbx.exec({ pod: slave!.metadata.name }, ['dig', '+short', '+time=2', '+tries=2', '+search', 'redis-master'])).toBe(
      masterIP,
    );
  });

  it('replicates a slave without GET_HOSTS_FROM from the DNS name redis-master, as the seed does', async () => {
    const rc = `apiVersion: v1
kind: ReplicationController
metadata: { name: redis-dns-slave }
spec:
  replicas: 1
  selector: { name: redis-dns-slave }
  template:
    metadata: { labels: { name: redis-dns-slave } }
    spec:
      containers:
        - name: slave
          image: kubeguide/guestbook-redis-slave
          ports: [{ containerPort: 6379 }]
`;
    writeFileSync(join(sbx.runDir, 'dns-slave.yaml'), rc);
    expect((await sbx.keel(['apply', '-f', join(sbx.runDir, 'dns-slave.yaml')])).exitCode).toBe(0);
    const [slave] = await sbx.readyPods('redis-dns-slave-', 1);
    const info = await linkUp(slave!.metadata.name);
    expect(info).toContain('master_host:redis-master');
    expect((await sbx.keel(['delete', '-f', join(sbx.runDir, 'dns-slave.yaml')])).exitCode).toBe(0);
  });

  it("writes through one node's NodePort and reads back through another's from a slave on the third", async () => {
    const [master] = await sbx.readyPods('redis-master-', 1);
    const slaves = await sbx.readyPods('redis-slave-', 2);
    const away = slaves.filter((s) => s.spec.nodeName !== master!.spec.nodeName);
    const reader: Pod = away.find((s) => s.spec.nodeName === 'node-3') ?? away[0]!;
    const [writeNode, readNode] = sbx.state.nodes.filter((n) => n.name !== reader.spec.nodeName);
    const message = `hello from ${writeNode!.name} ${Date.now()}`;
    const gets = async (): Promise<number> =>
      Number(/cmdstat_get:calls=(\d+)/.exec(await redisCli(reader.metadata.name, 'INFO', 'commandstats'))?.[1] ?? 0);
    const url = (node: string, query: string): string => `http://${nodeOf(node).ip}:30001/guestbook.php?${query}`;
    const curl = (u: string): Promise<string> => sbx.exec({ node: 'client' }, ['curl', '-s', '-m', '5', u]);

    expect(await curl(url(writeNode!.name, `cmd=set&key=messages&value=${encodeURIComponent(message)}`))).toBe('{"message": "Updated"}');
    const before = await gets();
    // The frontend reads through the redis-slave ClusterIP, which picks a slave: read until the one on the third node answered.
    for (let i = 0; i < 30 && (await gets()) === before; i++) {
      const got = await until('the message on every slave', async () => {
        const body = await curl(url(readNode!.name, 'cmd=get&key=messages'));
        return body.includes(message) ? body : undefined;
      });
      expect(JSON.parse(got)).toEqual({ data: message });
    }
    expect(await gets()).toBeGreaterThan(before);
    const page = await curl(`http://${nodeOf(readNode!.name).ip}:30001/`);
    expect(page).toContain(`<li>hello from ${writeNode!.name}`);
    expect(page).toContain('<form');
  });

  it('refuses writes on a slave: the master is the only writer', async () => {
    const [slave] = await sbx.readyPods('redis-slave-', 2);
    expect(await redisCli(slave!.metadata.name, 'SET', 'messages', 'x')).toMatch(/READONLY/);
  });

  it('shows a slave whose redis-server was killed as Failed and replaces it with one that links up', async () => {
    const watch = execa('node', [KEEL_BIN, 'get', 'pods', '-w'], { env: { KEEL_RUN_DIR: sbx.runDir }, reject: false, timeout: 60_000 });
    let out = '';
    watch.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until('get -w to list', async () => out.includes('redis-slave-'));
      const [victim] = await sbx.readyPods('redis-slave-', 2);
      const rec = listPodRecords(sbx.runDir).find((r) => r.name === victim!.metadata.name)!;
      process.kill(rec.processes[0]!.pid, 'SIGKILL');
      await until('get -w to show it Failed', async () =>
        out.split('\n').some((l) => l.startsWith(`${victim!.metadata.name} `) && /\bFailed\b/.test(l)),
      );
      const slaves = await until('a replacement', async () => {
        const pods = await sbx.readyPods('redis-slave-', 2);
        return pods.some((p) => p.metadata.name === victim!.metadata.name) ? undefined : pods;
      });
      for (const s of slaves) await linkUp(s.metadata.name);
      expect(await sbx.endpointIps('redis-slave')).not.toContain(victim!.status!.podIP);
    } finally {
      watch.kill('SIGINT');
      await watch;
    }
  });
});
