import { afterAll, describe, expect, it } from 'vitest';
import { connectStore, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { keel } from '../support/keel-cli.js';

const prefix = uniquePrefix('cli');
const env = { KEEL_ETCD_ENDPOINTS: etcdEndpoint(), KEEL_ETCD_PREFIX: prefix };
const store = connectStore();
afterAll(() => store.close());

async function dump(): Promise<string[]> {
  const { entries } = await store.list(`${prefix}/`);
  return entries.map((e) => `${e.key}=${e.value.toString()}`);
}

describe('keel apply/get/delete against a real etcd', () => {
  it('applies the seed fixtures, lists them, and is a no-op the second time', async () => {
    const first = await keel(['apply', '-f', 'fixtures/seed/'], env);
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain('service/nginx-service-clusterip created');
    expect(first.stdout).toContain('endpoints/frontend created');

    const table = await keel(['get', 'svc', '-A'], env);
    const lines = String(table.stdout).trim().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    expect(lines.find((l) => l.includes('frontend'))).toMatch(/NodePort\s+10\.(9[6-9]|10\d|11[01])\.\d+\.\d+\s+<none>\s+80:30001\/TCP/);
    expect(lines.find((l) => l.includes('nginx-service-nodeport'))).toMatch(/8000:3\d{4}\/TCP/);

    const before = await dump();
    const again = await keel(['apply', '-f', 'fixtures/seed/'], env);
    expect(
      String(again.stdout)
        .trim()
        .split('\n')
        .every((l) => l.endsWith(' unchanged')),
    ).toBe(true);
    expect(await dump()).toEqual(before);
  });

  it('refuses a second service asking for a taken NodePort and writes nothing', async () => {
    const before = await dump();
    const manifest =
      'apiVersion: v1\nkind: Service\nmetadata: {name: thief}\nspec: {type: NodePort, ports: [{port: 80, nodePort: 30001}]}\n';
    const res = await keel(['apply', '-f', '-'], env, manifest);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toBe(
      'keel: service default/thief: spec.ports[0].nodePort: 30001 is already allocated (to service default/frontend)',
    );
    expect(await dump()).toEqual(before);
  });

  it.each([
    ['malformed YAML', 'apiVersion: v1\nkind: Service\nmetadata: {name: x\n', /^keel: <stdin>: malformed YAML/],
    // ReplicationController and Deployment are accepted for the sandbox (src/sandbox/workload.ts); DaemonSet is served nowhere.
    [
      'an unknown kind',
      'apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\n',
      /^keel: daemonset default\/ds: kind "DaemonSet" is not served/,
    ],
    [
      'a missing name',
      'apiVersion: v1\nkind: Service\nmetadata: {}\nspec: {ports: [{port: 80}]}\n',
      /^keel: service default\/<unnamed>: metadata\.name: is required$/,
    ],
    [
      'a port out of range',
      'apiVersion: v1\nkind: Service\nmetadata: {name: w}\nspec: {ports: [{port: 80, name: a}, {port: 70000, name: b}]}\n',
      /^keel: service default\/w: spec\.ports\[1\]\.port: 70000 is out of range 1-65535$/,
    ],
    [
      'a bad targetPort name',
      'apiVersion: v1\nkind: Service\nmetadata: {name: w}\nspec: {ports: [{port: 80, targetPort: "not a label"}]}\n',
      /^keel: service default\/w: spec\.ports\[0\]\.targetPort: "not a label" is not a valid port name/,
    ],
  ])('rejects %s with one line, exit 1, etcd unchanged', async (_what, manifest, message) => {
    const before = await dump();
    // A valid object before the bad one must not be written either: input is validated whole first.
    const res = await keel(
      ['apply', '-f', '-'],
      env,
      `apiVersion: v1\nkind: Service\nmetadata: {name: fine}\nspec: {ports: [{port: 1}]}\n---\n${manifest}`,
    );
    expect(res.exitCode).toBe(1);
    expect(String(res.stderr).split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(message);
    expect(await dump()).toEqual(before);
  });

  it('deletes by name and releases the NodePort', async () => {
    expect((await keel(['delete', 'service', 'frontend'], env)).stdout).toBe('service "frontend" deleted');
    const manifest =
      'apiVersion: v1\nkind: Service\nmetadata: {name: heir}\nspec: {type: NodePort, ports: [{port: 80, nodePort: 30001}]}\n';
    expect((await keel(['apply', '-f', '-'], env, manifest)).stdout).toBe('service/heir created');
    const json = JSON.parse(String((await keel(['get', 'svc', 'heir', '-o', 'json'], env)).stdout)) as {
      kind: string;
      spec: { ports: { nodePort: number }[] };
    };
    // One name: the object itself, as kubectl prints it.
    expect(json.kind).toBe('Service');
    expect(json.spec.ports[0]?.nodePort).toBe(30001);
  });

  it('fails within 5 s with one line naming the endpoints when etcd is unreachable', async () => {
    const started = Date.now();
    const res = await keel(['get', 'svc'], { KEEL_ETCD_ENDPOINTS: 'http://127.0.0.1:9,http://127.0.0.1:7' });
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/^keel: cannot reach etcd at http:\/\/127\.0\.0\.1:9, http:\/\/127\.0\.0\.1:7/);
    expect(String(res.stderr).split('\n')).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  // The race itself bites in src/registry/object-registry.test.ts (a /29 and four NodePorts, in
  // process); this is the same guarantee across real processes, sized so two loaded cores start them.
  it('gives 16 concurrent apply processes 16 distinct ClusterIPs and NodePorts', async () => {
    const p = uniquePrefix('race');
    const raceEnv = { ...env, KEEL_ETCD_PREFIX: p };
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        keel(
          ['apply', '-f', '-'],
          raceEnv,
          `apiVersion: v1\nkind: Service\nmetadata: {name: s${i}}\nspec: {type: NodePort, ports: [{port: 80}]}\n`,
          240_000,
        ),
      ),
    );
    expect(results.filter((r) => r.exitCode !== 0).map((r) => `exit ${r.exitCode}: ${r.stderr}`)).toEqual([]);
    const { entries } = await store.list(`${p}/services/specs/`);
    const specs = entries.map(
      (e) => (JSON.parse(e.value.toString()) as { spec: { clusterIP: string; ports: { nodePort: number }[] } }).spec,
    );
    expect(specs).toHaveLength(16);
    expect(new Set(specs.map((s) => s.clusterIP)).size).toBe(16);
    expect(new Set(specs.map((s) => s.ports[0]?.nodePort)).size).toBe(16);
  }, 300_000); // 16 Node.js processes starting at once on two cores
});
