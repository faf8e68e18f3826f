/**
 * keel's iptables and nftables proxies for IPv6 and dual-stack services against a real kernel: one
 * sync loop per family inside the node namespace, as the agent runs them — iptables-restore and
 * ip6tables-restore, or the `ip keel` and `ip6 keel` tables (kube-proxy's `ip kube-proxy` /
 * `ip6 kube-proxy`, not one `inet` table).
 *
 * Address plan: ./proxy-lab.ts with `dualStack`, prefix "kd" (iptables) or "knc" (nftables): node
 * 172.30.0.1 + fd00:172:30::1, ext 172.30.0.2 + fd00:172:30::2, pod N 10.244.N.2 + fd00:10:244:N::2
 * (p1, p2 backends answering "p1"/"p2" on TCP 8080 and UDP 5353, c the client).
 * Services: web dual-stack (IPv6 primary) fd00:10:96::a + 10.96.0.10, http 80→8080/TCP NodePort 30080,
 *           dns 53→5353/UDP NodePort 30053; six IPv6-only fd00:10:96::b 80→8080 with p1 only;
 *           empty6 fd00:10:96::20 (no endpoints).
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoints } from '../../src/api/endpoints.js';
import type { Service } from '../../src/api/service.js';
import { makeEndpoints, makeService, snapshotOf } from '../../src/api/testing/object-builders.js';
import { ConntrackTool } from '../../src/kernel/conntrack/conntrack.js';
import { RestoreRunner } from '../../src/kernel/iptables/restore-runner.js';
import { NfTablesSocket } from '../../src/kernel/nftables/nf-tables-batch.js';
import { NftCommand } from '../../src/kernel/nftables/nft-runner.js';
import { setLogSink } from '../../src/observe/log.js';
import { DEFAULT_MASQUERADE_BIT, type NodeConfig } from '../../src/proxy-iptables/compile.js';
import { SyncLoop } from '../../src/proxy-iptables/sync-loop.js';
import { tracePacket } from '../../src/proxy-iptables/trace.js';
import { compileNftables } from '../../src/proxy-nftables/compile.js';
import { traceNftPacket } from '../../src/proxy-nftables/nft-trace.js';
import { NftSyncLoop } from '../../src/proxy-nftables/nft-sync-loop.js';
import { renderTable } from '../../src/proxy-nftables/render-table.js';
import { diffTables } from '../../src/proxy-nftables/table-diff.js';
import { KEEL_BIN } from '../support/keel-cli.js';
import { ProxyLab } from './proxy-lab.js';
import { expectSpread } from '../support/expect-spread.js';

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
const services: Service[] = [web, six, empty6];
const endpoints: Endpoints[] = [
  makeEndpoints(
    'default',
    'web',
    [1, 2].flatMap((n) => [
      { ip: `10.244.${n}.2`, node: 'node-1' },
      { ip: `fd00:10:244:${n}::2`, node: 'node-1' },
    ]),
    [
      { name: 'http', port: 8080 },
      { name: 'dns', port: 5353, protocol: 'UDP' },
    ],
  ),
  makeEndpoints('default', 'six', [{ ip: 'fd00:10:244:1::2', node: 'node-1' }], [{ port: 8080 }]),
];
const FAMILIES = [4, 6] as const;
const fullChange = { services: new Set<string>(), endpoints: new Set<string>(), pods: new Set<string>(), full: true };
/** The iptables proxy finds the node's addresses itself; the nftables one is told them. */
const nodeOf = (family: 4 | 6, nodeIPs: boolean): NodeConfig => ({
  nodeName: 'node-1',
  ...(family === 6 ? { family } : {}),
  ...(nodeIPs ? { nodeIPs: [family === 6 ? 'fd00:172:30::1' : '172.30.0.1'] } : {}),
  clusterCidr: family === 6 ? 'fd00:10:244::/56' : '10.244.0.0/16',
  masqueradeBit: DEFAULT_MASQUERADE_BIT,
});

describe.each(['iptables', 'nftables'] as const)('%s proxy for IPv6 in a real kernel', (mode) => {
  const proxyLab = new ProxyLab(mode === 'iptables' ? 'kd' : 'knc', { dualStack: true });
  const { ns, traffic } = proxyLab;
  const runners = new Map<4 | 6, RestoreRunner>();
  const loops: SyncLoop[] = [];
  const nftLoops: NftSyncLoop[] = [];
  let nft: NftCommand;
  let direct: NfTablesSocket | undefined;

  beforeAll(async () => {
    await proxyLab.setup();
    nft = new NftCommand({ netns: ns.node });
    if (mode === 'nftables') direct = new NfTablesSocket({ netns: ns.node });
    for (const family of FAMILIES) {
      const conntrack = new ConntrackTool(ns.node, family);
      if (mode === 'iptables') {
        const runner = new RestoreRunner({ backend: 'nft', netns: ns.node, family });
        runners.set(family, runner);
        const loop = new SyncLoop({ runner, node: nodeOf(family, false), conntrack });
        loop.update(snapshotOf(services, endpoints, 1), fullChange);
        await loop.sync();
        loops.push(loop);
      } else {
        const loop = new NftSyncLoop({
          port: nft,
          ...(direct ? { direct } : {}),
          family: family === 6 ? 'ip6' : 'ip',
          node: nodeOf(family, true),
          conntrack,
        });
        loop.update(snapshotOf(services, endpoints, 1), fullChange);
        expect((await loop.sync()).kind).toBe('full');
        nftLoops.push(loop);
      }
    }
  });

  afterAll(async () => {
    direct?.close();
    await proxyLab.destroy();
  });

  if (mode === 'iptables')
    it('loads the IPv6 rules with ip6tables-restore and keeps IPv6 out of the IPv4 tables', async () => {
      const v6 = `${await runners.get(6)?.save('nat')}`;
      const v4 = `${await runners.get(4)?.save('nat')}`;
      expect(v6).toContain('-A KUBE-SERVICES -d fd00:10:96::a/128 -p tcp -m comment --comment "default/web:http cluster IP"');
      expect(v6).not.toMatch(/\b10\.96\./);
      expect(v4).toContain('-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP"');
      expect(v4).not.toContain('fd00:');
      // A full resync of each family against what its kernel tables hold changes nothing.
      for (const loop of loops) {
        loop.update(snapshotOf(services, endpoints, 2), fullChange);
        expect(await loop.sync()).toMatchObject({ kind: 'full', written: 0, deleted: 0 });
      }
    });
  else
    it('holds the ip6 keel table exactly as compiled, IPv6 only, beside the IPv4-only ip keel table', async () => {
      const v6 = (await nft.listTable('ip6', 'keel')) ?? '';
      const v4 = (await nft.listTable('ip', 'keel')) ?? '';
      const snap = snapshotOf(services, endpoints, 1);
      expect(diffTables(renderTable(compileNftables(snap, nodeOf(6, true))), v6)).toBe('');
      expect(diffTables(renderTable(compileNftables(snap, nodeOf(4, true))), v4)).toBe('');
      expect(v6).toContain('fd00:10:96::a . tcp . 80 : goto service-');
      expect(v6).toContain('type ipv6_addr . inet_proto . inet_service : verdict');
      // (Endpoint chain names spell an IPv6 address with dots, as kube-proxy's do: fd00.10.244.1..2.)
      expect(v6).not.toMatch(/(^|[\s{,])10\.(96|244)\.\d+\.\d+/m);
      expect(v4).toContain('10.96.0.10 . tcp . 80 : goto service-');
      expect(v4).not.toContain('fd00:');
    });

  it('spreads TCP connections to an IPv6 ClusterIP from a pod and from the node over both IPv6 endpoints', async () => {
    for (const from of [ns.c, ns.node]) {
      const t = await traffic.call(from, 'fd00:10:96::a', 80, 'tcp', 100);
      expectSpread(t, ['p1', 'p2'], 0.2);
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
      expectSpread(t, ['p1', 'p2'], 0, `${ip} ${proto}`);
    }
  });

  it("reaches the NodePort on the node's IPv6 address from an external client", async () => {
    const t = await traffic.call(ns.ext, 'fd00:172:30::1', 30080, 'tcp', 60);
    expectSpread(t, ['p1', 'p2']);
  });

  it('sends an IPv6-only service to its IPv6 endpoint, and refuses one without endpoints at once', async () => {
    expect(await traffic.call(ns.c, 'fd00:10:96::b', 80, 'tcp', 10)).toEqual({ answers: { p1: 10 }, errors: {} });
    expect(await traffic.call(ns.c, 'fd00:10:96::20', 80, 'tcp', 3)).toEqual({ answers: {}, errors: { ECONNREFUSED: 3 } });
  });

  if (mode === 'nftables')
    it('sends an IPv6 endpoint change as one netlink element batch (16-byte keys and values), the ip6 table then as compiled', async () => {
      const moved = endpoints.map((e) =>
        e.metadata.name === 'six' ? makeEndpoints('default', 'six', [{ ip: 'fd00:10:244:2::2', node: 'node-1' }], [{ port: 8080 }]) : e,
      );
      const results = [];
      for (const loop of nftLoops) {
        loop.update(snapshotOf(services, moved, 2), { ...fullChange, endpoints: new Set(['default/six']), full: false });
        results.push(await loop.sync());
      }
      // six is IPv6-only: nothing for ip keel; its endpoint map slot and hairpin pair change in ip6 keel.
      expect(results.map((r) => [r.kind, r.path, r.chains])).toEqual([
        ['partial', 'none', 0],
        ['partial', 'netlink', 0],
      ]);
      const v6 = (await nft.listTable('ip6', 'keel')) ?? '';
      expect(diffTables(renderTable(compileNftables(snapshotOf(services, moved, 2), nodeOf(6, true))), v6)).toBe('');
      expect(v6).toContain('0 : fd00:10:244:2::2 . 8080');
      expect(await traffic.call(ns.c, 'fd00:10:96::b', 80, 'tcp', 10)).toEqual({ answers: { p2: 10 }, errors: {} });
    });

  if (mode === 'nftables')
    it('sends an IPv6 endpoint count crossing a power of two (1 → 3) as one netlink batch: elements and the pick rules replaced in place', async () => {
      // A third endpoint: p1's second address (its server listens on all of them).
      await execa('ip', ['-n', ns.p1, '-6', 'addr', 'add', 'fd00:10:244:1::3/64', 'dev', 'eth0', 'nodad']);
      const eps = ['fd00:10:244:1::2', 'fd00:10:244:2::2', 'fd00:10:244:1::3'].map((ip) => ({ ip, node: 'node-1' }));
      const grown = endpoints.map((e) => (e.metadata.name === 'six' ? makeEndpoints('default', 'six', eps, [{ port: 8080 }]) : e));
      const v6loop = nftLoops[1];
      v6loop?.update(snapshotOf(services, grown, 3), { ...fullChange, endpoints: new Set(['default/six']), full: false });
      expect(await v6loop?.sync()).toMatchObject({ kind: 'partial', path: 'netlink', chains: 1 });
      const v6 = (await nft.listTable('ip6', 'keel')) ?? '';
      expect(diffTables(renderTable(compileNftables(snapshotOf(services, grown, 3), nodeOf(6, true))), v6)).toBe('');
      expect(v6).toContain('numgen random mod 4 map');
      const t = await traffic.call(ns.c, 'fd00:10:96::b', 80, 'tcp', 40);
      expect(t.errors).toEqual({});
      expect(Object.keys(t.answers).sort()).toEqual(['p1', 'p2']);
      await execa('ip', ['-n', ns.p1, '-6', 'addr', 'del', 'fd00:10:244:1::3/64', 'dev', 'eth0']);
    });

  const packet = { src: 'fd00:10:244:3::2', dst: 'fd00:10:96::a', dport: 80, protocol: 'tcp', from: 'pod' } as const;
  if (mode === 'iptables')
    it('traces an IPv6 packet through the ip6tables rules the kernel holds to both endpoints', async () => {
      const rules = `${await runners.get(6)?.save('nat')}${await runners.get(6)?.save('filter')}`;
      const out = tracePacket(rules, packet, []);
      expect(out.map((o) => o.verdict).sort()).toEqual(['DNAT [fd00:10:244:1::2]:8080', 'DNAT [fd00:10:244:2::2]:8080']);
    });
  else
    it('traces an IPv6 packet through the ip6 table to both endpoints', () => {
      const out = traceNftPacket(compileNftables(snapshotOf(services, endpoints, 1), nodeOf(6, true)), packet, ['fd00:172:30::1']);
      expect(out.map((o) => [o.verdict, o.probability])).toEqual([
        ['DNAT [fd00:10:244:1::2]:8080', 0.5],
        ['DNAT [fd00:10:244:2::2]:8080', 0.5],
      ]);
    });

  if (mode === 'nftables')
    it('keel cleanup deletes both tables', async () => {
      const res = await execa('ip', ['netns', 'exec', ns.node, process.execPath, KEEL_BIN, 'cleanup'], { reject: false });
      expect([res.exitCode, res.stderr]).toEqual([0, '']);
      expect(await nft.listTable('ip6', 'keel')).toBeUndefined();
      expect(await nft.listTable('ip', 'keel')).toBeUndefined();
    });
});
