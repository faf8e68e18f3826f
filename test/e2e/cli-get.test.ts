import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStore, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { keel, KEEL_BIN } from '../support/keel-cli.js';

// kubectl's everyday conventions for `keel get` / `keel delete`, against a real etcd.
// Services with explicit ClusterIPs (10.96.21.0/24) so outputs carry no random addresses.
const prefix = uniquePrefix('cliget');
const env = { KEEL_ETCD_ENDPOINTS: etcdEndpoint(), KEEL_ETCD_PREFIX: prefix };
const store = connectStore();

const svc = (name: string, ip: string, labels: string): string =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, labels: {${labels}}}\nspec: {clusterIP: ${ip}, ports: [{port: 80}]}\n`;

beforeAll(async () => {
  const res = await keel(
    ['apply', '-f', '-'],
    env,
    [svc('web', '10.96.21.10', 'tier: fe, app: web'), svc('db', '10.96.21.11', 'tier: be, app: db'), svc('bare', '10.96.21.12', '')].join(
      '---\n',
    ),
  );
  expect(res.stderr).toBe('');
});
afterAll(async () => {
  for (const e of (await store.list(`${prefix}/`)).entries) await store.delete(e.key);
  store.close();
});

/** AGE is the only time-dependent column; its width moves the columns after it, so gaps compare as two spaces. */
const maskAge = (s: string): string => s.replace(/\b\d+[smhd](?= |$)/gm, 'AGE').replace(/ {2,}/g, '  ');

describe('keel get, as kubectl prints', () => {
  it('prints one named object itself in json, yaml and jsonpath; several as a List', async () => {
    const one = JSON.parse((await keel(['get', 'svc', 'web', '-o', 'json'], env)).stdout) as { kind: string; metadata: { name: string } };
    expect([one.kind, one.metadata.name]).toEqual(['Service', 'web']);
    expect((await keel(['get', 'svc', 'web', '-o', 'yaml'], env)).stdout).toMatch(/^apiVersion: v1\nkind: Service\nmetadata:\n/);
    expect((await keel(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'], env)).stdout).toBe('10.96.21.10');
    const two = JSON.parse((await keel(['get', 'svc', 'web', 'db', '-o', 'json'], env)).stdout) as {
      kind: string;
      items: { metadata: { name: string } }[];
    };
    expect([two.kind, two.items.map((i) => i.metadata.name)]).toEqual(['List', ['web', 'db']]);
    const none = JSON.parse((await keel(['get', 'svc', '-n', 'nosuch', '-o', 'json'], env)).stdout) as { kind: string; items: unknown[] };
    expect([none.kind, none.items]).toEqual(['List', []]);
  });

  it('prints -o name and -o jsonpath over the List', async () => {
    expect((await keel(['get', 'svc', '-o', 'name'], env)).stdout).toBe('service/bare\nservice/db\nservice/web');
    const jp = await keel(['get', 'svc', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.spec.clusterIP}{"\\n"}{end}'], env);
    expect(jp.stdout).toBe('bare\t10.96.21.12\ndb\t10.96.21.11\nweb\t10.96.21.10');
    expect((await keel(['get', 'svc', '-o', 'jsonpath={.items[*].metadata.name}'], env)).stdout).toBe('bare db web');
  });

  it('filters with -l (equality and set-based) and shows labels', async () => {
    const table = await keel(['get', 'svc', '--show-labels'], env);
    expect(maskAge(table.stdout)).toBe(
      [
        'NAME  TYPE  CLUSTER-IP  EXTERNAL-IP  PORT(S)  AGE  LABELS',
        'bare  ClusterIP  10.96.21.12  <none>  80/TCP  AGE  <none>',
        'db  ClusterIP  10.96.21.11  <none>  80/TCP  AGE  app=db,tier=be',
        'web  ClusterIP  10.96.21.10  <none>  80/TCP  AGE  app=web,tier=fe',
      ].join('\n'),
    );
    const names = async (sel: string): Promise<string> => (await keel(['get', 'svc', '-l', sel, '-o', 'name'], env)).stdout;
    expect(await names('app=web')).toBe('service/web');
    expect(await names('app!=web')).toBe('service/bare\nservice/db');
    expect(await names('tier in (fe,be)')).toBe('service/db\nservice/web');
    expect(await names('tier notin (fe)')).toBe('service/bare\nservice/db');
    expect(await names('!tier')).toBe('service/bare');
    expect(await names('tier,app=db')).toBe('service/db');
  });

  it.each([
    [['get', 'svc', 'nope'], 'Error from server (NotFound): services "nope" not found'],
    [['get', 'ep', 'nope', '-n', 'other'], 'Error from server (NotFound): endpoints "nope" not found'],
    [['delete', 'svc', 'nope'], 'Error from server (NotFound): services "nope" not found'],
    [['delete', 'pod', 'nope'], 'Error from server (NotFound): pods "nope" not found'],
  ])("keel %j: kubectl's one-line NotFound, exit 1", async (args, line) => {
    const res = await keel(args, env);
    expect([res.exitCode, res.stdout, res.stderr]).toEqual([1, '', line]);
  });

  it('prints what exists and a NotFound line for the rest, exit 1', async () => {
    const res = await keel(['get', 'svc', 'web', 'nope', '-o', 'name'], env);
    expect([res.exitCode, res.stdout, res.stderr]).toEqual([1, 'service/web', 'Error from server (NotFound): services "nope" not found']);
  });

  it('says "No resources found" on stderr with exit 0, as kubectl', async () => {
    const res = await keel(['get', 'svc', '-n', 'nosuch'], env);
    expect([res.exitCode, res.stdout, res.stderr]).toEqual([0, '', 'No resources found in nosuch namespace.']);
  });

  it.each([
    [['get', 'svc', 'web', '-l', 'a=b'], 'keel: name cannot be provided when a selector is specified'],
    [
      ['get', 'svc', '-o', 'table'],
      'keel: unable to match a printer suitable for the output format "table", allowed formats are: json,jsonpath,name,wide,yaml',
    ],
    [['get', 'svc', '-o', 'jsonpath={.items[0]'], 'keel: error parsing jsonpath {.items[0]: unclosed action'],
    [['get', 'svc', '-l', 'a=(b'], /^keel: -l: "a=\(b" is not a selector requirement/],
    [
      ['get', 'nodesx'],
      'keel: the server doesn\'t have a resource type "nodesx" (keel serves services, endpoints, pods, endpointslices, nodes)',
    ],
  ])('keel %j: one-line usage error', async (args, message) => {
    const res = await keel(args, env);
    expect(res.exitCode).toBe(2);
    expect(res.stderr.split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(message);
  });

  it('-w prints the header once, then one line per change, and stops on SIGINT', async () => {
    const proc = execa('node', [KEEL_BIN, 'get', 'svc', '-w', '-l', 'watched=yes'], { env, reject: false });
    let out = '';
    proc.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const waitFor = async (re: RegExp): Promise<void> => {
      for (let i = 0; i < 300 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(re);
    };
    // Nothing matches yet: no header until the first change, as kubectl.
    await keel(['apply', '-f', '-'], env, svc('w1', '10.96.21.20', 'watched: "yes"'));
    await waitFor(/w1/);
    await keel(['apply', '-f', '-'], env, svc('w2', '10.96.21.21', 'watched: "yes"'));
    await keel(['apply', '-f', '-'], env, svc('other', '10.96.21.22', 'watched: "no"'));
    await keel(['delete', 'svc', 'w1'], env);
    await waitFor(/w1[^\n]*\n[^\n]*w2[^\n]*\n[^\n]*w1/);
    proc.kill('SIGINT');
    const res = await proc;
    expect(res.exitCode).toBe(0);
    expect(maskAge(out).split('\n')).toEqual([
      'NAME  TYPE  CLUSTER-IP  EXTERNAL-IP  PORT(S)  AGE',
      'w1  ClusterIP  10.96.21.20  <none>  80/TCP  AGE',
      'w2  ClusterIP  10.96.21.21  <none>  80/TCP  AGE',
      'w1  ClusterIP  10.96.21.20  <none>  80/TCP  AGE',
      '',
    ]);
  }, 60_000);
});
