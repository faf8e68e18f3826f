/**
 * keel's nftables proxy against a real kernel (Debian's nft 1.0.6), in
 * network namespaces: the topology and address plan of ./proxy-lab.ts with
 * the prefix "knf". Besides the lab's services:
 *   local 10.96.0.60 (80→8080/TCP, NodePort 30060; internal and external
 *   traffic policy Local) with p1 on node-1 and p2 on node-2.
 * Rules come from NftSyncLoop with an NftCommand inside knf-R-node and an
 * NfTablesSocket opened there (element changes and the periodic check).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoints } from '../../src/api/endpoints.js';
import { ConntrackTool } from '../../src/kernel/conntrack/conntrack.js';
import { NfTablesSocket } from '../../src/kernel/nftables/nf-tables-batch.js';
import { NftCommand } from '../../src/kernel/nftables/nft-runner.js';
import { setLogSink } from '../../src/observe/log.js';
import { DEFAULT_MASQUERADE_BIT } from '../../src/proxy-iptables/compile.js';
import { makeEndpoints, makeService, snapshotOf } from '../../src/api/testing/object-builders.js';
import { NftSyncLoop } from '../../src/proxy-nftables/nft-sync-loop.js';
import { renderTable } from '../../src/proxy-nftables/render-table.js';
import { diffTables } from '../../src/proxy-nftables/table-diff.js';
import { FakeClock } from '../../src/runtime/testing/fake-clock.js';
import { sh } from './proxy-iptables-lab.js';
import { backends, labServices, ProxyLab } from './proxy-lab.js';
import { expectSpread } from '../support/expect-spread.js';

const proxyLab = new ProxyLab('knf');
const { ns, traffic } = proxyLab;
let port: NftCommand;
let direct: NfTablesSocket;
let loop: NftSyncLoop;
setLogSink({ write: () => undefined });

const local = makeService('default', 'local', (s) => {
  s.type = 'NodePort';
  s.clusterIP = '10.96.0.60';
  s.internalTrafficPolicy = 'Local';
  s.externalTrafficPolicy = 'Local';
  s.ports = [{ port: 80, targetPort: 8080, nodePort: 30060 }];
});
const localEps = makeEndpoints(
  'default',
  'local',
  [
    { ip: '10.244.1.2', node: 'node-1' },
    { ip: '10.244.2.2', node: 'node-2' },
  ],
  [{ port: 8080 }],
);
const services = [...labServices, local];
const node = { nodeName: 'node-1', nodeIPs: ['172.30.0.1'], clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
let revision = 1;
function feed(target: NftSyncLoop, eps: Endpoints[], keys: string[], full = false): void {
  target.update(snapshotOf(services, [...eps, localEps], revision++), {
    services: new Set(),
    endpoints: new Set(keys),
    pods: new Set(),
    full,
  });
}
async function syncWith(eps: Endpoints[], keys: string[], full = false) {
  feed(loop, eps, keys, full);
  return loop.sync();
}

beforeAll(async () => {
  await proxyLab.setup();
  port = new NftCommand({ netns: ns.node });
  direct = new NfTablesSocket({ netns: ns.node });
  loop = new NftSyncLoop({ port, direct, node, conntrack: new ConntrackTool(ns.node) });
  expect((await syncWith(backends(['10.244.1.2', '10.244.2.2']), [], true)).kind).toBe('full');
});

afterAll(async () => {
  (direct as NfTablesSocket | undefined)?.close();
  await proxyLab.destroy();
});

describe('nftables proxy in a real kernel', () => {
  it('the kernel holds exactly the table keel compiled (nft list reads back what keel rules prints)', async () => {
    expect(diffTables(renderTable(loop.table()), (await port.listTable('ip', 'keel')) ?? '')).toBe('');
  });

  it('spreads TCP connections to a ClusterIP from the node (output) and from a pod (prerouting) over both endpoints', async () => {
    for (const from of [ns.node, ns.c]) {
      const t = await traffic.call(from, '10.96.0.10', 80, 'tcp', 200);
      expectSpread(t, ['p1', 'p2'], 0.25);
    }
  });

  it('answers UDP on the ClusterIP from the node and from a pod', async () => {
    for (const from of [ns.node, ns.c]) {
      const t = await traffic.call(from, '10.96.0.10', 53, 'udp', 60);
      expectSpread(t, ['p1', 'p2']);
    }
  });

  it('reaches NodePorts from an external client over TCP and UDP', async () => {
    const tcp = await traffic.call(ns.ext, '172.30.0.1', 30080, 'tcp', 100);
    const udp = await traffic.call(ns.ext, '172.30.0.1', 30053, 'udp', 60);
    for (const t of [tcp, udp]) {
      expectSpread(t, ['p1', 'p2']);
    }
  });

  it('pins a client to one endpoint with ClientIP affinity', async () => {
    const t = await traffic.call(ns.c, '10.96.0.30', 80, 'tcp', 40);
    expect(t.errors).toEqual({});
    expect(Object.keys(t.answers)).toHaveLength(1);
  });

  it('refuses a service without endpoints, and a ClusterIP port no service has, at once', async () => {
    for (const from of [ns.node, ns.c]) {
      expect(await traffic.call(from, '10.96.0.20', 80, 'tcp', 3)).toEqual({ answers: {}, errors: { ECONNREFUSED: 3 } });
      expect(await traffic.call(from, '10.96.0.10', 81, 'tcp', 2)).toEqual({ answers: {}, errors: { ECONNREFUSED: 2 } });
    }
  });

  it('Local policies: the ClusterIP and the NodePort from outside reach only this node’s endpoint', async () => {
    expect(await traffic.call(ns.c, '10.96.0.60', 80, 'tcp', 30)).toEqual({ answers: { p1: 30 }, errors: {} });
    expect(await traffic.call(ns.ext, '172.30.0.1', 30060, 'tcp', 30)).toEqual({ answers: { p1: 30 }, errors: {} });
  });

  it('an endpoint count crossing a power of two (2 → 3 → 2) replaces the pick rules in place over netlink, atomically with the elements', async () => {
    // A third endpoint: p1's second address (its server listens on all of them); TCP only, as a UDP reply would leave from 10.244.1.2.
    await sh('ip', ['-n', ns.p1, 'addr', 'add', '10.244.1.3/24', 'dev', 'eth0']);
    const handles = async (): Promise<bigint[]> =>
      ((await direct.chainRules('ip', 'keel', 'service-SUSTUHLJ-default/web/tcp/http')) ?? []).map((r) => r.handle);
    const before = await handles();
    for (const ips of [
      ['10.244.1.2', '10.244.2.2', '10.244.1.3'],
      ['10.244.1.2', '10.244.2.2'],
    ]) {
      const r = await syncWith(backends(ips), ['default/web']);
      expect(r).toMatchObject({ kind: 'partial', path: 'netlink', chains: 2, bytes: 0 });
      expect(diffTables(renderTable(loop.table()), (await port.listTable('ip', 'keel')) ?? '')).toBe('');
      const t = await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', 60);
      expect(t.errors).toEqual({});
      expect(Object.keys(t.answers).sort()).toEqual(['p1', 'p2']);
    }
    // Replaced in place, each rule keeps its handle (nft -f's flush and add would have given all ten new ones).
    expect(await handles()).toEqual(before);
    await sh('ip', ['-n', ns.p1, 'addr', 'del', '10.244.1.3/24', 'dev', 'eth0']);
  });

  it('stops sending to a removed endpoint after the next (partial) sync, UDP conntrack included', { timeout: 180_000 }, async () => {
    const first = await traffic.call(ns.c, '10.96.0.10', 53, 'udp', 1, 40053);
    const pinned = Object.keys(first.answers)[0];
    expect(await traffic.call(ns.c, '10.96.0.10', 53, 'udp', 3, 40053)).toEqual({ answers: { [pinned ?? '']: 3 }, errors: {} });
    const keep = pinned === 'p1' ? '10.244.2.2' : '10.244.1.2';
    const other = pinned === 'p1' ? 'p2' : 'p1';
    // web's endpoints are data (one netlink element batch); sticky's ClientIP affinity keeps endpoint chains (nft -f).
    const data = await syncWith(backends([keep]), ['default/web']);
    expect(data).toMatchObject({ kind: 'partial', path: 'netlink', chains: 0 });
    expect(data.elements).toBeGreaterThan(0);
    expect((await syncWith(backends([keep]), ['default/sticky'])).path).toBe('nft');
    expect(await traffic.call(ns.c, '10.96.0.10', 53, 'udp', 3, 40053)).toEqual({ answers: { [other]: 3 }, errors: {} });
    expect(await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', 50)).toEqual({ answers: { [other]: 50 }, errors: {} });
    expect(diffTables(renderTable(loop.table()), (await port.listTable('ip', 'keel')) ?? '')).toBe('');
    // All endpoints gone, then back: the ClusterIP moves between the reject map and the dispatch map.
    await syncWith([], ['default/web', 'default/sticky']);
    expect(await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', 2)).toEqual({ answers: {}, errors: { ECONNREFUSED: 2 } });
    await syncWith(backends(['10.244.1.2']), ['default/web', 'default/sticky']);
    expect(await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', 5)).toEqual({ answers: { p1: 5 }, errors: {} });
  });

  it('a periodic sync notices that someone flushed or deleted the table, and replaces it', async () => {
    const clock = new FakeClock();
    const own = new NftSyncLoop({ port, direct, node, clock });
    feed(own, backends(['10.244.1.2']), [], true);
    expect((await own.sync()).kind).toBe('full');
    await clock.advance(30_000);
    expect(await own.sync()).toMatchObject({ kind: 'partial', chains: 0, bytes: 0 });
    for (const cmd of ['flush table ip keel', 'delete table ip keel']) {
      await sh('ip', ['netns', 'exec', ns.node, 'nft', cmd]);
      expect(await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', 1)).not.toEqual({ answers: { p1: 1 }, errors: {} });
      await clock.advance(30_000);
      expect((await own.sync()).kind).toBe('full');
      expect(await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', 10)).toEqual({ answers: { p1: 10 }, errors: {} });
    }
  });

  it('cleanup deletes the table and leaves other tables alone', async () => {
    await port.run('add table ip other\nadd chain ip other c\n');
    await port.run('add table ip keel\ndelete table ip keel\n');
    expect(await port.listTable('ip', 'keel')).toBeUndefined();
    expect(await port.listTable('ip', 'other')).toContain('chain c');
  });
});
