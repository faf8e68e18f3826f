/**
 * Which program a pod runs when Debian's is missing: a sandbox whose
 * `--program-path` holds redis-server but no nginx (as on a machine where
 * only redis-server was installed). The nginx image falls back to the
 * HTTP stand-in with one line in the controller's log; the redis image
 * runs the real redis-server, in its own directory under the run
 * directory, which goes with the pod. No agents: the test writes each
 * node's subnet.env, traffic stays on the node.
 *
 * Address plan: underlay 172.30.0.0/24 (node-1 .1), pods 10.244.1.0/24,
 * services from 10.96.0.0/12.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podDir } from '../../src/sandbox/pod-records.js';
import { TestSandbox, until } from './sandbox-support.js';

const MANIFESTS = `
apiVersion: v1
kind: ReplicationController
metadata: { name: web }
spec:
  replicas: 1
  selector: { name: web }
  template:
    metadata: { labels: { name: web } }
    spec:
      containers:
        - name: nginx
          image: nginx:1.25
          ports: [{ containerPort: 80 }]
---
apiVersion: v1
kind: ReplicationController
metadata: { name: cache }
spec:
  replicas: 1
  selector: { name: cache }
  template:
    metadata: { labels: { name: cache } }
    spec:
      containers:
        - name: redis
          image: redis
          ports: [{ containerPort: 6379 }]
`;

describe('sandbox programs: a missing Debian program falls back to the stand-in', () => {
  const sbx = new TestSandbox();
  const programs = join(sbx.runDir, 'programs');

  beforeAll(async () => {
    mkdirSync(programs);
    symlinkSync('/usr/bin/redis-server', join(programs, 'redis-server'));
    await sbx.up(['--no-agents', '--nodes', '1', '--program-path', programs]);
    const dir = join(sbx.runDir, 'nodes', 'node-1');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'subnet.env'),
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
    writeFileSync(join(sbx.runDir, 'pods.yaml'), MANIFESTS);
    expect((await sbx.keel(['apply', '-f', join(sbx.runDir, 'pods.yaml')])).exitCode).toBe(0);
  });

  afterAll(async () => {
    await sbx.down();
  });

  it('runs the HTTP stand-in for nginx, says so once in the log and in get pods -o wide', async () => {
    const [web] = await sbx.readyPods('web-', 1);
    const name = web!.metadata.name;
    expect(await sbx.exec({ node: 'node-1' }, ['curl', '-s', '-m', '3', `http://${web!.status!.podIP}/`])).toBe(name);
    const log = readFileSync(join(sbx.runDir, 'logs', 'controller.log'), 'utf8');
    const lines = log.split('\n').filter((l) => l.includes(`pod default/${name} container nginx`));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('nginx is not on the program path (apt-get install nginx');
    expect(lines[0]).toContain('running the http stand-in');
    const table = (await sbx.keel(['get', 'pods', '-o', 'wide'])).stdout;
    expect(table).toMatch(new RegExp(`^${name} .* stand-in:http$`, 'm'));
  });

  it('runs redis-server from the program path in its own directory, removed with the pod', async () => {
    const [cache] = await sbx.readyPods('cache-', 1);
    const name = cache!.metadata.name;
    expect(await sbx.exec({ pod: name }, ['redis-cli', '-h', '127.0.0.1', 'CONFIG', 'GET', 'dir'])).toBe(
      `dir\n${join(podDir(sbx.runDir, 'default', name), 'redis')}`,
    );
    expect(await sbx.exec({ pod: name }, ['redis-cli', '-h', '127.0.0.1', 'CONFIG', 'GET', 'save'])).toBe('save');
    expect((await sbx.keel(['delete', 'replicationcontrollers', 'cache'])).exitCode).toBe(0);
    await until('the pod directory to go', async () => !existsSync(podDir(sbx.runDir, 'default', name)));
  });
});
