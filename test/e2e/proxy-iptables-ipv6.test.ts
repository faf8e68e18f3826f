/**
 * keel's iptables proxy for IPv6 and dual-stack services against a real kernel: one SyncLoop per
 * family (iptables-restore and ip6tables-restore inside the node namespace), as the agent runs them.
 *
 * Address plan (run suffix R; ULA only):
 *   kd-R-node  node: 172.30.0.1/24 + fd00:172:30::1/64 to kd-R-ext; 10.244.N.1/24 + fd00:10:244:N::1/64
 *              to pod N; forwards both families; default routes via the ext namespace
 *   kd-R-ext   external client 172.30.0.2/24 + fd00:172:30::2/64
 *   kd-R-p1    backend pod 10.244.1.2 + fd00:10:244:1::2 (node "node-1"), answers "p1" on TCP 8080 and UDP 5353
 *   kd-R-p2    backend pod 10.244.2.2 + fd00:10:244:2::2, answers "p2"
 *   kd-R-c     client pod 10.244.3.2 + fd00:10:244:3::2
 * Services: web dual-stack (IPv6 primary) fd00:10:96::a + 10.96.0.10, http 80→8080/TCP NodePort 30080,
 *           dns 53→5353/UDP; six IPv6-only fd00:10:96::b, 80→8080, endpoints p1 only; empty6 fd00:10:96::20 (none).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoints } from '../../src/api/endpoints.js';
import type { Service } from '../../src/api/service.js';
import { ConntrackTool } from '../../src/kernel/conntrack/conntrack.js';
import { RestoreRunner } from '../../src/kernel/iptables/restore-runner.js';
import { setLogSink } from '../../src/observe/log.js';
import { DEFAULT_MASQUERADE_BIT } from '../../src/proxy-iptables/compile.js';
import { SyncLoop } from '../../src/proxy-iptables/sync-loop.js';
import { makeEndpoints, makeService, snapshotOf } from '../../src/api/testing/object-builders.js';
import { tracePacket } from '../../src/proxy-iptables/trace.js';
import { NetnsLab, sh } from './proxy-iptables-lab.js';
import { Traffic, type Tally } from './proxy-iptables-traffic.js';

const lab = new NetnsLab('kd');
const traffic = new Traffic(lab.run);
const ns = { node: '', ext: '', p1: '', p2: '', c: '' };
const runners: Record<4 | 6, RestoreRunner | undefined> = { 4: undefined, 6: undefined };
const loops: SyncLoop[] = [];
setLogSink({ write: () => undefined });

const web = makeService('default', 'web', (s) => {
  s.type = 'NodePort';
  s.clusterIPs = ['fd00:10:96::a', '10.96.0.10'];
  s.ipFamilies = ['IPv6', 'IPv4'];
  s.ipFamilyPolicy = 'RequireDualStack';
  s.ports = [
    { name: 'http', port: 80, targetPort: 8080, nodePort: 30080 },
    { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP', nodePort: 30053 },
  ];
});
const six = makeService('default', 'six', (s) => {
  s.clusterIP = 'fd00:10:96::b';
  s.ports = [{ port: 80, targetPort: 8080 }];
});
const empty6 = makeService('default', 'empty6', (s) => {
  s.clusterIP = 'fd00:10:96::20';
  s.ports = [{ port: 80 }];
});
const pods = [
  { ip4: '10.244.1.2', ip6: 'fd00:10:244:1::2' },
  { ip4: '10.244.2.2', ip6: 'fd00:10:244:2::2' },
];
const endpoints: Endpoints[] = [
  makeEndpoints(
    'default',
    'web',
    pods.flatMap((p) => [
      { ip: p.ip4, node: 'node-1' },
      { ip: p.ip6, node: 'node-1' },
    ]),
    [
      { name: 'http', port: 8080 },
      { name: 'dns', port: 5353, protocol: 'UDP' },
    ],
  ),
  makeEndpoints('default', 'six', [{ ip: 'fd00:10:244:1::2', node: 'node-1' }], [{ port: 8080 }]),
];
const services: Service[] = [web, six, empty6];

async function pod(role: keyof typeof ns, n: number): Promise<void> {
  ns[role] = await lab.netns(role);
  const link = `kd${lab.run}${role}`;
  await sh('ip', ['-n', ns.node, 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[role]]);
  await sh('ip', ['-n', ns.node, 'addr', 'add', `10.244.${n}.1/24`, 'dev', link]);
  await sh('ip', ['-n', ns.node, '-6', 'addr', 'add', `fd00:10:244:${n}::1/64`, 'dev', link, 'nodad']);
  await sh('ip', ['-n', ns.node, 'link', 'set', link, 'up']);
  await sh('ip', ['-n', ns[role], 'addr', 'add', `10.244.${n}.2/24`, 'dev', 'eth0']);
  await sh('ip', ['-n', ns[role], '-6', 'addr', 'add', `fd00:10:244:${n}::2/64`, 'dev', 'eth0', 'nodad']);
  await sh('ip', ['-n', ns[role], 'link', 'set', 'eth0', 'up']);
  await sh('ip', ['-n', ns[role], 'route', 'add', 'default', 'via', `10.244.${n}.1`]);
  await sh('ip', ['-n', ns[role], '-6', 'route', 'add', 'default', 'via', `fd00:10:244:${n}::1`]);
}

const share = (t: Tally, name: string): number => (t.answers[name] ?? 0) / Object.values(t.answers).reduce((a, b) => a + b, 0);

beforeAll(async () => {
  ns.node = await lab.netns('node');
  ns.ext = await lab.netns('ext');
  const x = `kd${lab.run}x`;
  await sh('ip', ['-n', ns.node, 'link', 'add', x, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.ext]);
  await sh('ip', ['-n', ns.node, 'addr', 'add', '172.30.0.1/24', 'dev', x]);
  await sh('ip', ['-n', ns.node, '-6', 'addr', 'add', 'fd00:172:30::1/64', 'dev', x, 'nodad']);
  await sh('ip', ['-n', ns.node, 'link', 'set', x, 'up']);
  await sh('ip', ['-n', ns.ext, 'addr', 'add', '172.30.0.2/24', 'dev', 'eth0']);
  await sh('ip', ['-n', ns.ext, '-6', 'addr', 'add', 'fd00:172:30::2/64', 'dev', 'eth0', 'nodad']);
  await sh('ip', ['-n', ns.ext, 'link', 'set', 'eth0', 'up']);
  await sh('ip', ['-n', ns.node, 'route', 'add', 'default', 'via', '172.30.0.2']);
  await sh('ip', ['-n', ns.node, '-6', 'route', 'add', 'default', 'via', 'fd00:172:30::2']);
  await lab.exec(ns.node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await lab.exec(ns.node, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  await pod('p1', 1);
  await pod('p2', 2);
  await pod('c', 3);
  await traffic.serve(ns.p1, 'p1', 8080, 5353);
  await traffic.serve(ns.p2, 'p2', 8080, 5353);
  for (const family of [4, 6] as const) {
    const runner = new RestoreRunner({ backend: 'nft', netns: ns.node, family });
    runners[family] = runner;
    loops.push(
      new SyncLoop({
        runner,
        node: {
          nodeName: 'node-1',
          ...(family === 6 ? { family } : {}),
          clusterCidr: family === 6 ? 'fd00:10:244::/56' : '10.244.0.0/16',
          masqueradeBit: DEFAULT_MASQUERADE_BIT,
        },
        conntrack: new ConntrackTool(ns.node, family),
      }),
    );
  }
  for (const loop of loops) {
    loop.update(snapshotOf(services, endpoints, 1), { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
    await loop.sync();
  }
});

afterAll(async () => {
  await traffic.stop();
  await lab.destroy();
});

describe('iptables proxy for IPv6 in a real kernel', () => {
  it('loads the IPv6 rules with ip6tables-restore and keeps IPv6 out of the IPv4 tables', async () => {
    const v6 = `${await runners[6]?.save('nat')}`;
    const v4 = `${await runners[4]?.save('nat')}`;
    expect(v6).toContain('-A KUBE-SERVICES -d fd00:10:96::a/128 -p tcp -m comment --comment "default/web:http cluster IP"');
    expect(v6).not.toMatch(/\b10\.96\./);
    expect(v4).toContain('-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP"');
    expect(v4).not.toContain('fd00:');
    // A full resync of each family against what its kernel tables hold changes nothing.
    for (const loop of loops) {
      loop.update(snapshotOf(services, endpoints, 2), { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
      expect(await loop.sync()).toMatchObject({ kind: 'full', written: 0, deleted: 0 });
    }
  });

  it('spreads TCP connections to an IPv6 ClusterIP from a pod and from the node over both IPv6 endpoints', async () => {
    for (const from of [ns.c, ns.node]) {
      const t = await traffic.call(from, 'fd00:10:96::a', 80, 'tcp', 100);
      expect(t.errors).toEqual({});
      expect(share(t, 'p1')).toBeGreaterThanOrEqual(0.2);
      expect(share(t, 'p2')).toBeGreaterThanOrEqual(0.2);
    }
  });

  it('reaches the dual-stack service on both families, TCP and UDP', async () => {
    for (const [ip, proto, port] of [
      ['10.96.0.10', 'tcp', 80],
      ['fd00:10:96::a', 'tcp', 80],
      ['10.96.0.10', 'udp', 53],
      ['fd00:10:96::a', 'udp', 53],
    ] as const) {
      const t = await traffic.call(ns.c, ip, port, proto, 40);
      expect(t.errors, `${ip} ${proto}`).toEqual({});
      expect(Object.keys(t.answers).sort(), `${ip} ${proto}`).toEqual(['p1', 'p2']);
    }
  });

  it("reaches the NodePort on the node's IPv6 address from an external client", async () => {
    const t = await traffic.call(ns.ext, 'fd00:172:30::1', 30080, 'tcp', 60);
    expect(t.errors).toEqual({});
    expect(Object.keys(t.answers).sort()).toEqual(['p1', 'p2']);
  });

  it('sends an IPv6-only service to its IPv6 endpoint, and refuses one without endpoints with ICMPv6 at once', async () => {
    expect(await traffic.call(ns.c, 'fd00:10:96::b', 80, 'tcp', 10)).toEqual({ answers: { p1: 10 }, errors: {} });
    expect(await traffic.call(ns.c, 'fd00:10:96::20', 80, 'tcp', 3)).toEqual({ answers: {}, errors: { ECONNREFUSED: 3 } });
  });

  it('traces an IPv6 packet through the ip6tables rules the kernel holds to both endpoints', async () => {
    const rules = `${await runners[6]?.save('nat')}${await runners[6]?.save('filter')}`;
    const out = tracePacket(rules, { src: 'fd00:10:244:3::2', dst: 'fd00:10:96::a', dport: 80, protocol: 'tcp', from: 'pod' }, []);
    expect(out.map((o) => o.verdict).sort()).toEqual(['DNAT [fd00:10:244:1::2]:8080', 'DNAT [fd00:10:244:2::2]:8080']);
  });
});
