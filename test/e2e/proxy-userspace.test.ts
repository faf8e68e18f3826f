import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTERNAL_IP, NODE_IP, POD_IPS, ProxyNode, UserspaceLab } from './proxy-userspace-lab.js';

/*
 * The userspace proxy in a real kernel: a node namespace runs the proxier
 * (test/e2e/proxy-userspace-node.ts) with its portal rules in the node's own
 * nat table; pods on the node's bridge and an outside namespace are clients.
 * Address plan: see proxy-userspace-lab.ts.
 */
const CLUSTER_IP = '10.96.0.10';
const STICKY_IP = '10.96.0.11';

function web(endpointIPs: string[]): object[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'default', name: 'web' },
      spec: {
        type: 'NodePort',
        clusterIP: CLUSTER_IP,
        externalIPs: [EXTERNAL_IP],
        ports: [
          { name: 'http', port: 80, targetPort: 8080, nodePort: 30080 },
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { namespace: 'default', name: 'web' },
      subsets: [
        {
          addresses: endpointIPs.map((ip) => ({ ip })),
          ports: [
            { name: 'http', port: 8080 },
            { name: 'dns', port: 5353, protocol: 'UDP' },
          ],
        },
      ],
    },
  ];
}

const sticky: object[] = [
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'default', name: 'sticky' },
    spec: {
      clusterIP: STICKY_IP,
      ports: [{ port: 80, targetPort: 8080 }],
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace: 'default', name: 'sticky' },
    subsets: [{ addresses: [{ ip: POD_IPS.pa }, { ip: POD_IPS.pb }], ports: [{ port: 8080 }] }],
  },
];

const both = [POD_IPS.pa, POD_IPS.pb];

/** Two names alternating: x y x y … with {x, y} = {a, b}. */
function expectAlternation(names: string[]): void {
  expect(new Set(names.slice(0, 2))).toEqual(new Set(['a', 'b']));
  names.forEach((n, i) => expect(n).toBe(names[i % 2]));
}

describe.each(['nft', 'legacy'] as const)('userspace proxy in a real kernel, iptables %s', (backend) => {
  const lab = new UserspaceLab();
  let node: ProxyNode;
  let backendA: ChildProcess;

  beforeAll(async () => {
    await lab.build();
    backendA = await lab.backend('pa', 'a');
    await lab.backend('pb', 'b');
    node = ProxyNode.start(lab, ['--iptables-backend', backend, '--iptables-sync-period', '300']);
    await node.sync([...web(both), ...sticky]);
  }, 120_000);

  afterAll(async () => {
    try {
      await node?.stop();
    } finally {
      await lab.destroy();
    }
  });

  it("installs the portal rules in the seed's shape", async () => {
    const ports = await node.sync([...web(both), ...sticky]);
    const nat = await lab.exec('node', `iptables-${backend}-save`, ['-t', 'nat']);
    const http = ports['default/web:http'];
    expect(nat).toContain(
      `-A KUBE-PORTALS-CONTAINER -d ${CLUSTER_IP}/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j REDIRECT --to-ports ${http}`,
    );
    expect(nat).toContain(
      `-A KUBE-PORTALS-HOST -d ${CLUSTER_IP}/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j DNAT --to-destination ${NODE_IP}:${http}`,
    );
    expect(nat).toContain(
      `-A KUBE-NODEPORT-CONTAINER -p udp -m comment --comment "default/web:dns" -m udp --dport 30053 -j REDIRECT --to-ports ${ports['default/web:dns']}`,
    );
    expect(nat).toContain(
      `-A KUBE-NODEPORT-HOST -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j DNAT --to-destination ${NODE_IP}:${http}`,
    );
  });

  it("round-robins a pod's ClusterIP connections exactly over two endpoints", async () => {
    expectAlternation(await lab.client<string[]>('pc', 'names', CLUSTER_IP, 80, 6));
  });

  it("serves the ClusterIP to the node's own processes (OUTPUT → KUBE-PORTALS-HOST)", async () => {
    expectAlternation(await lab.client<string[]>('node', 'names', CLUSTER_IP, 80, 4));
  });

  it('serves the NodePort and the external IP to an outside host', async () => {
    expectAlternation(await lab.client<string[]>('ext', 'names', NODE_IP, 30080, 4));
    expectAlternation(await lab.client<string[]>('ext', 'names', EXTERNAL_IP, 80, 4));
  });

  it('relays UDP from a pod, from the node and from outside, each new client socket on the next endpoint', async () => {
    const names = (replies: string[]): string[] =>
      replies.map((r, i) => {
        expect(r.endsWith(`:q${i}`)).toBe(true);
        return r.split(':')[0] as string;
      });
    expectAlternation(names(await lab.client<string[]>('pc', 'udp', CLUSTER_IP, 53, 4)));
    expectAlternation(names(await lab.client<string[]>('node', 'udp', CLUSTER_IP, 53, 4)));
    expectAlternation(names(await lab.client<string[]>('ext', 'udp', NODE_IP, 30053, 4)));
  });

  it('pins a client to one endpoint with ClientIP affinity', async () => {
    const names = await lab.client<string[]>('pc', 'names', STICKY_IP, 80, 6);
    expect(new Set(names).size).toBe(1);
    const fromNode = await lab.client<string[]>('node', 'names', STICKY_IP, 80, 4);
    expect(new Set(fromNode).size).toBe(1);
  });

  it('passes a half-closed client (socat) its full reply', async () => {
    const out = await lab.exec('pc', 'socat', ['-t', '5', '-', `TCP:${CLUSTER_IP}:80`], 'hello over a half-closed socket\n');
    expect(out).toMatch(/^[ab]\nhello over a half-closed socket$/);
  });

  it('moves new connections when endpoints change, keeping the established one', async () => {
    const held = lab.spawn('pc', 'socat', ['-', `TCP:${CLUSTER_IP}:80`]);
    const lines = createInterface({ input: held.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const name = (await lines.next()).value as string;
    const other = name === 'a' ? 'b' : 'a';
    await node.sync([...web([name === 'a' ? POD_IPS.pb : POD_IPS.pa]), ...sticky]);
    expect(new Set(await lab.client<string[]>('pc', 'names', CLUSTER_IP, 80, 4))).toEqual(new Set([other]));
    (held.stdin as NodeJS.WritableStream).write('still here\n');
    expect((await lines.next()).value).toBe('still here');
    (held.stdin as NodeJS.WritableStream).end();
    await new Promise((r) => held.once('exit', r));
    await node.sync([...web(both), ...sticky]);
  });

  it('moves a 100 MB transfer byte-exact both ways', async () => {
    const r = await lab.client<{ sent: string; got: string; gotBytes: number }>('pc', 'big', CLUSTER_IP, 80, 100);
    expect(r.gotBytes).toBe(100 << 20);
    expect(r.got).toBe(r.sent);
  }, 120_000);

  it('completes 1,000 concurrent connections', async () => {
    expect(await lab.client<{ ok: number; failed: number }>('pc', 'concurrent', CLUSTER_IP, 80, 1000)).toEqual({ ok: 1000, failed: 0 });
  }, 120_000);

  it('repairs portal rules someone else flushed, on the next periodic resync', async () => {
    await lab.exec('node', `iptables-${backend}`, ['-t', 'nat', '-F', 'KUBE-PORTALS-CONTAINER']);
    await lab.exec('node', `iptables-${backend}`, [
      '-t',
      'nat',
      '-D',
      'OUTPUT',
      '-m',
      'comment',
      '--comment',
      'handle ClusterIP services',
      '-j',
      'KUBE-PORTALS-HOST',
    ]);
    const repaired = async (): Promise<boolean> => {
      const nat = await lab.exec('node', `iptables-${backend}-save`, ['-t', 'nat']);
      return nat.includes(`-A KUBE-PORTALS-CONTAINER -d ${CLUSTER_IP}/32`) && nat.includes('-j KUBE-PORTALS-HOST');
    };
    while (!(await repaired())) await new Promise((r) => setTimeout(r, 100));
    expectAlternation(await lab.client<string[]>('pc', 'names', CLUSTER_IP, 80, 2));
    expectAlternation(await lab.client<string[]>('node', 'names', CLUSTER_IP, 80, 2));
  });

  it("keeps clients succeeding when one endpoint's process dies", async () => {
    backendA.kill('SIGKILL');
    await new Promise((r) => backendA.once('exit', r));
    expect(await lab.client<string[]>('pc', 'names', CLUSTER_IP, 80, 6)).toEqual(['b', 'b', 'b', 'b', 'b', 'b']);
    expect(await lab.client<string[]>('ext', 'names', NODE_IP, 30080, 4)).toEqual(['b', 'b', 'b', 'b']);
    const metrics = await node.metrics();
    expect(metrics).toMatch(
      /keel_userspace_proxy_endpoint_dial_failures_total\{service_port="default\/web:http",protocol="TCP",reason="refused"\} [1-9]/,
    );
    expect(metrics).toMatch(/keel_userspace_proxy_connections_total\{service_port="default\/web:http",protocol="TCP"\} [1-9]\d{3}/);
    expect(metrics).toMatch(/keel_userspace_proxy_bytes_total\{service_port="default\/web:http",protocol="TCP",direction="in"\} \d{9}/);
  });

  it("closes a deleted service's listener and removes its rules", async () => {
    const before = await node.sync([...web(both), ...sticky]);
    const port = before['default/sticky:'] as number;
    const after = await node.sync(web(both));
    expect(after['default/sticky:']).toBeUndefined();
    expect(await lab.exec('node', `iptables-${backend}-save`, ['-t', 'nat'])).not.toContain('default/sticky:');
    await expect(lab.client<string[]>('pc', 'names', '10.244.1.1', port, 1)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('removes every portal rule and jump when it stops', async () => {
    await node.stop();
    expect(await lab.exec('node', `iptables-${backend}-save`, ['-t', 'nat'])).not.toMatch(/KUBE-(PORTALS|NODEPORT)/);
  });
});
