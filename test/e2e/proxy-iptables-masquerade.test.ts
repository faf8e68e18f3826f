/**
 * Masquerade in a real kernel: paths that only work when keel's KUBE-MARK-MASQ
 * mark (0x4000) is set and KUBE-POSTROUTING SNATs on it, and the Local-policy
 * chains that must keep the client's address. Servers answer "<pod> from <peer>"
 * so each test also sees whether the connection arrived SNATed.
 *
 * Address plan (run suffix R keeps parallel runs apart; no bridge, three links):
 *   kp-R-n1   node-1, runs keel's rules: 172.30.1.1/24 to ext, 172.30.3.1/24 to n2,
 *             10.244.1.1/24 to p1; 10.244.2.0/24 via 172.30.3.2
 *   kp-R-n2   node-2, no proxy: 172.30.2.1/24 to ext, 172.30.3.2/24 to n1, 10.244.2.1/24 to p2;
 *             172.30.1.0/24 via ext (172.30.2.2), 10.244.0.0/16 via 172.30.3.1
 *   kp-R-ext  external client, not a router: 172.30.1.2/24 to n1, 172.30.2.2/24 to n2;
 *             10.244.1.0/24 via n1 (to reach p1 directly)
 *   kp-R-p1   pod 10.244.1.2 on node-1; kp-R-p2 pod 10.244.2.2 on node-2 (TCP 8080, UDP 5353)
 * A reply from p2 to 172.30.1.x goes n2 → ext, never back through n1: without SNAT to
 * n1's 172.30.3.1, n1 never sees it to undo the DNAT.
 * Services:
 *   hair      10.96.0.40:80, only endpoint p1 (p1 reaching itself through its service)
 *   remote    NodePort 30090, Cluster policy, only endpoint p2
 *   local     NodePort 30091, Local policy, endpoints p1 and p2
 *   localnone NodePort 30092, Local policy, only endpoint p2 (no local endpoint on node-1)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestoreRunner } from '../../src/kernel/iptables/restore-runner.js';
import { setLogSink } from '../../src/observe/log.js';
import { DEFAULT_MASQUERADE_BIT } from '../../src/proxy-iptables/compile.js';
import { SyncLoop } from '../../src/proxy-iptables/sync-loop.js';
import { makeEndpoints, makeService, snapshotOf } from '../../src/api/testing/object-builders.js';
import { NetnsLab, sh } from './proxy-iptables-lab.js';
import { Traffic } from './proxy-iptables-traffic.js';
import { expectSpread } from '../support/expect-spread.js';

setLogSink({ write: () => undefined });
const lab = new NetnsLab();
const traffic = new Traffic(lab.run);
const ns = { n1: '', n2: '', ext: '', p1: '', p2: '' };
const P1 = { ip: '10.244.1.2', node: 'node-1' };
const P2 = { ip: '10.244.2.2', node: 'node-2' };
const PORTS = [{ port: 8080 }];

const services = [
  makeService('default', 'hair', (s) => {
    s.clusterIP = '10.96.0.40';
    s.ports = [{ port: 80, targetPort: 8080 }];
  }),
  ...(
    [
      ['remote', 30090, 'Cluster'],
      ['local', 30091, 'Local'],
      ['localnone', 30092, 'Local'],
    ] as const
  ).map(([name, nodePort, policy], i) =>
    makeService('default', name, (s) => {
      s.type = 'NodePort';
      s.clusterIP = `10.96.0.${41 + i}`;
      s.externalTrafficPolicy = policy;
      s.ports = [{ port: 80, targetPort: 8080, nodePort }];
    }),
  ),
];
const endpoints = [
  makeEndpoints('default', 'hair', [P1], PORTS),
  makeEndpoints('default', 'remote', [P2], PORTS),
  makeEndpoints('default', 'local', [P1, P2], PORTS),
  makeEndpoints('default', 'localnone', [P2], PORTS),
];

async function link(a: string, aIf: string, aAddr: string, b: string, bIf: string, bAddr: string): Promise<void> {
  await sh('ip', ['-n', a, 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b]);
  for (const [n, dev, addr] of [
    [a, aIf, aAddr],
    [b, bIf, bAddr],
  ] as const) {
    await sh('ip', ['-n', n, 'addr', 'add', addr, 'dev', dev]);
    await sh('ip', ['-n', n, 'link', 'set', dev, 'up']);
  }
}

beforeAll(async () => {
  for (const role of ['n1', 'n2', 'ext', 'p1', 'p2'] as const) ns[role] = await lab.netns(role);
  const r = lab.run;
  await link(ns.n1, `kp${r}a`, '172.30.1.1/24', ns.ext, 'to-n1', '172.30.1.2/24');
  await link(ns.n2, `kp${r}b`, '172.30.2.1/24', ns.ext, 'to-n2', '172.30.2.2/24');
  await link(ns.n1, `kp${r}c`, '172.30.3.1/24', ns.n2, `kp${r}d`, '172.30.3.2/24');
  await link(ns.n1, `kp${r}p1`, '10.244.1.1/24', ns.p1, 'eth0', '10.244.1.2/24');
  await link(ns.n2, `kp${r}p2`, '10.244.2.1/24', ns.p2, 'eth0', '10.244.2.2/24');
  await sh('ip', ['-n', ns.p1, 'route', 'add', 'default', 'via', '10.244.1.1']);
  await sh('ip', ['-n', ns.p2, 'route', 'add', 'default', 'via', '10.244.2.1']);
  await sh('ip', ['-n', ns.n1, 'route', 'add', '10.244.2.0/24', 'via', '172.30.3.2']);
  await sh('ip', ['-n', ns.n2, 'route', 'add', '10.244.0.0/16', 'via', '172.30.3.1']);
  await sh('ip', ['-n', ns.n2, 'route', 'add', '172.30.1.0/24', 'via', '172.30.2.2']);
  await sh('ip', ['-n', ns.ext, 'route', 'add', '10.244.1.0/24', 'via', '172.30.1.1']);
  for (const node of [ns.n1, ns.n2]) await lab.exec(node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await traffic.serve(ns.p1, 'p1', 8080, 5353, { peer: true });
  await traffic.serve(ns.p2, 'p2', 8080, 5353, { peer: true });
  const loop = new SyncLoop({
    runner: new RestoreRunner({ backend: 'nft', netns: ns.n1 }),
    node: { nodeName: 'node-1', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT },
  });
  loop.update(snapshotOf(services, endpoints), { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
  expect((await loop.sync()).kind).toBe('full');
});

afterAll(async () => {
  await traffic.stop();
  await lab.destroy();
});

describe('masquerade in a real kernel', () => {
  it('hairpin: a pod reaching its own service is picked and answers itself, SNATed to the node', async () => {
    // Unmasqueraded, p1 would receive a SYN from its own address on eth0 and drop it as martian.
    expect(await traffic.call(ns.p1, '10.96.0.40', 80, 'tcp', 5)).toEqual({ answers: { 'p1 from 10.244.1.1': 5 }, errors: {} });
  });

  it('NodePort from outside to an endpoint on another node: SNATed so the reply comes back through node-1', async () => {
    expect(await traffic.call(ns.ext, '172.30.1.1', 30090, 'tcp', 5)).toEqual({ answers: { 'p2 from 172.30.3.1': 5 }, errors: {} });
  });

  it('Local policy from outside: only the local endpoint, and it sees the client address (no SNAT)', async () => {
    expect(await traffic.call(ns.ext, '172.30.1.1', 30091, 'tcp', 20)).toEqual({ answers: { 'p1 from 172.30.1.2': 20 }, errors: {} });
  });

  it('Local policy from the node itself: any endpoint, SNATed (LOCAL-source traffic is masqueraded)', async () => {
    // Only endpoint on node-2; n1's own source 172.30.1.1 would be answered via ext, which does not route.
    expect(await traffic.call(ns.n1, '172.30.1.1', 30092, 'tcp', 3)).toEqual({ answers: { 'p2 from 172.30.3.1': 3 }, errors: {} });
    expectSpread(await traffic.call(ns.n1, '172.30.1.1', 30091, 'tcp', 40), ['p1 from 10.244.1.1', 'p2 from 172.30.3.1']);
  });

  it('Local policy from a pod: any endpoint, client address kept', async () => {
    const t = await traffic.call(ns.p1, '172.30.1.1', 30092, 'tcp', 3);
    expect(t).toEqual({ answers: { 'p2 from 10.244.1.2': 3 }, errors: {} });
  });

  it('Local policy from outside without a local endpoint: dropped, not sent to another node', async () => {
    expect(await traffic.call(ns.ext, '172.30.1.1', 30092, 'tcp', 1)).toEqual({ answers: {}, errors: { ETIMEDOUT: 1 } });
  });

  it('masquerades what another component marks with the shared 0x4000 bit (kubelet and CNI plugins jump to it)', async () => {
    // The bit is a contract between components of a node, not keel's private choice: a rule outside
    // keel marks ext's direct connections to p1, and keel's KUBE-POSTROUTING must SNAT them.
    const marker = ['-s', '172.30.1.2', '-d', '10.244.1.2', '-p', 'tcp', '--dport', '8080', '-j', 'MARK', '--set-xmark', '0x4000/0x4000'];
    expect(await traffic.call(ns.ext, '10.244.1.2', 8080, 'tcp', 1)).toEqual({ answers: { 'p1 from 172.30.1.2': 1 }, errors: {} });
    await lab.exec(ns.n1, 'iptables-nft', ['-t', 'nat', '-I', 'PREROUTING', ...marker]);
    try {
      expect(await traffic.call(ns.ext, '10.244.1.2', 8080, 'tcp', 3)).toEqual({ answers: { 'p1 from 10.244.1.1': 3 }, errors: {} });
    } finally {
      await lab.exec(ns.n1, 'iptables-nft', ['-t', 'nat', '-D', 'PREROUTING', ...marker]);
    }
  });
});
