/**
 * keel's iptables proxy against a real kernel, in network namespaces: the
 * topology and address plan of ./proxy-lab.ts. Rules come from SyncLoop with
 * a RestoreRunner inside kp-R-node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoints } from '../../src/api/endpoints.js';
import { RestoreRunner } from '../../src/kernel/iptables/restore-runner.js';
import { setLogSink } from '../../src/observe/log.js';
import { DEFAULT_MASQUERADE_BIT } from '../../src/proxy-iptables/compile.js';
import { ConntrackTool } from '../../src/kernel/conntrack/conntrack.js';
import { kernelViewOf, planCleanup } from '../../src/proxy-iptables/sync-plan.js';
import { SyncLoop } from '../../src/proxy-iptables/sync-loop.js';
import { snapshotOf } from '../../src/api/testing/object-builders.js';
import { tracePacket } from '../../src/proxy-iptables/trace.js';
import { FakeClock } from '../../src/runtime/testing/fake-clock.js';
import { sh } from './proxy-iptables-lab.js';
import { backends, labServices, ProxyLab } from './proxy-lab.js';
import { expectSpread } from '../support/expect-spread.js';

const proxyLab = new ProxyLab();
const { ns, traffic } = proxyLab;
let runner: RestoreRunner;
let loop: SyncLoop;
setLogSink({ write: () => undefined });

const services = labServices;
let revision = 1;
async function syncWith(eps: Endpoints[], keys: string[], full = false) {
  loop.update(snapshotOf(services, eps, revision++), { services: new Set(), endpoints: new Set(keys), pods: new Set(), full });
  return loop.sync();
}

beforeAll(async () => {
  await proxyLab.setup();
  runner = new RestoreRunner({ backend: 'nft', netns: ns.node });
  loop = new SyncLoop({
    runner,
    node: { nodeName: 'node-1', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT },
    conntrack: new ConntrackTool(ns.node),
  });
  await syncWith(backends(['10.244.1.2', '10.244.2.2']), [], true);
});

afterAll(async () => {
  await proxyLab.destroy();
});

describe('iptables proxy in a real kernel', () => {
  it('a resync against what the kernel holds changes nothing', async () => {
    expect(await syncWith(backends(['10.244.1.2', '10.244.2.2']), [], true)).toMatchObject({
      kind: 'full',
      written: 0,
      deleted: 0,
      bytes: 0,
    });
  });

  it('spreads 200 TCP connections from the node (OUTPUT) over both endpoints', async () => {
    const t = await traffic.call(ns.node, '10.96.0.10', 80, 'tcp', 200);
    expectSpread(t, ['p1', 'p2'], 0.25);
  });

  it('spreads 200 TCP connections from a pod (PREROUTING) over both endpoints', async () => {
    const t = await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', 200);
    expectSpread(t, ['p1', 'p2'], 0.25);
  });

  it('answers UDP on the ClusterIP from the node and from a pod, over both endpoints', async () => {
    for (const from of [ns.node, ns.c]) {
      const t = await traffic.call(from, '10.96.0.10', 53, 'udp', 100);
      expectSpread(t, ['p1', 'p2'], 0.25);
    }
  });

  it('reaches NodePorts from an external client over TCP and UDP', async () => {
    const tcp = await traffic.call(ns.ext, '172.30.0.1', 30080, 'tcp', 100);
    const udp = await traffic.call(ns.ext, '172.30.0.1', 30053, 'udp', 100);
    for (const t of [tcp, udp]) {
      expectSpread(t, ['p1', 'p2'], 0.25);
    }
  });

  it('traces, from the rules the kernel holds, the outcomes and the spread the kernel produced', async () => {
    const kernelRules = `${await runner.save('nat')}${await runner.save('filter')}`;
    const trace = (dst: string): { verdict: string; probability: number }[] =>
      tracePacket(kernelRules, { src: '10.244.3.2', dst, dport: 80, protocol: 'tcp', from: 'pod' }, ['172.30.0.1']);
    const n = 400;
    const seen = await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', n);
    expect(seen.errors).toEqual({});
    const verdictOf: Record<string, string> = { p1: 'DNAT 10.244.1.2:8080', p2: 'DNAT 10.244.2.2:8080' };
    const traced = trace('10.96.0.10');
    expect(traced.map((o) => o.verdict).sort()).toEqual(
      Object.keys(seen.answers)
        .map((pod) => verdictOf[pod])
        .sort(),
    );
    for (const o of traced) {
      const pod = Object.keys(verdictOf).find((k) => verdictOf[k] === o.verdict) ?? '';
      // Binomial spread of n connections: within 4 standard deviations (±0.1 at p = 0.5) of the traced probability.
      expect(Math.abs((seen.answers[pod] ?? 0) / n - o.probability), o.verdict).toBeLessThanOrEqual(
        4 * Math.sqrt((o.probability * (1 - o.probability)) / n),
      );
    }
    // A service without endpoints: the kernel refuses the connection, the trace says REJECT.
    expect(await traffic.call(ns.c, '10.96.0.20', 80, 'tcp', 3)).toEqual({ answers: {}, errors: { ECONNREFUSED: 3 } });
    expect(trace('10.96.0.20').map((o) => o.verdict)).toEqual(['REJECT: default/empty has no endpoints']);
  });

  it('pins a client to one endpoint with ClientIP affinity', async () => {
    const t = await traffic.call(ns.c, '10.96.0.30', 80, 'tcp', 40);
    expect(t.errors).toEqual({});
    expect(Object.keys(t.answers)).toHaveLength(1);
  });

  it('refuses a service without endpoints at once (TCP RST/ICMP, not a timeout)', async () => {
    for (const from of [ns.node, ns.c]) {
      const t = await traffic.call(from, '10.96.0.20', 80, 'tcp', 3);
      expect(t).toEqual({ answers: {}, errors: { ECONNREFUSED: 3 } });
    }
  });

  it('stops sending to a removed endpoint after the next (partial) sync, UDP conntrack included', async () => {
    // A UDP "connection" from a fixed port stays on its endpoint through conntrack…
    const first = await traffic.call(ns.c, '10.96.0.10', 53, 'udp', 1, 40053);
    const pinned = Object.keys(first.answers)[0];
    const again = await traffic.call(ns.c, '10.96.0.10', 53, 'udp', 3, 40053);
    expect(again.answers).toEqual({ [pinned ?? '']: 3 });
    // …until keel removes that endpoint and deletes the flows to it.
    const keep = pinned === 'p1' ? '10.244.2.2' : '10.244.1.2';
    const other = pinned === 'p1' ? 'p2' : 'p1';
    const res = await syncWith(backends([keep]), ['default/web', 'default/sticky']);
    expect(res.kind).toBe('partial');
    expect(await traffic.call(ns.c, '10.96.0.10', 53, 'udp', 3, 40053)).toEqual({ answers: { [other]: 3 }, errors: {} });
    expect(await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', 50)).toEqual({ answers: { [other]: 50 }, errors: {} });
  });

  it('a periodic sync notices through the canary that someone flushed the tables, and resyncs fully', async () => {
    const clock = new FakeClock();
    const saves: string[] = [];
    const counting = {
      restore: runner.restore.bind(runner),
      listChain: runner.listChain.bind(runner),
      save: (table: 'nat' | 'filter') => {
        saves.push(table);
        return runner.save(table);
      },
    };
    const own = new SyncLoop({
      runner: counting,
      node: { nodeName: 'node-1', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT },
      clock,
    });
    own.update(snapshotOf(services, backends(['10.244.1.2']), revision++), {
      services: new Set(),
      endpoints: new Set(),
      pods: new Set(),
      full: true,
    });
    expect((await own.sync()).kind).toBe('full');
    await clock.advance(30_000);
    expect(await own.sync()).toMatchObject({ kind: 'partial', written: 0 });
    expect(saves).toEqual(['nat', 'filter']);
    for (const args of [['-F'], ['-X']]) {
      for (const table of ['nat', 'filter']) await sh('ip', ['netns', 'exec', ns.node, 'iptables-nft', '-t', table, ...args]);
    }
    expect(await sh('ip', ['netns', 'exec', ns.node, 'iptables-nft-save', '-t', 'nat'])).not.toContain('KUBE-');
    await clock.advance(30_000);
    expect((await own.sync()).kind).toBe('full');
    expect(saves).toHaveLength(4);
    expect(await traffic.call(ns.c, '10.96.0.10', 80, 'tcp', 20)).toEqual({ answers: { p1: 20 }, errors: {} });
  });

  it('cleanup leaves no KUBE- chain and no jump behind, and keeps other rules', async () => {
    await runner.restore('*nat\n:OTHER - [0:0]\n-A OTHER -j RETURN\n-A POSTROUTING -j OTHER\nCOMMIT\n', { noflush: true });
    const view = kernelViewOf({ nat: await runner.save('nat'), filter: await runner.save('filter') });
    await runner.restore(planCleanup(view), { noflush: true });
    const after = `${await runner.save('nat')}${await runner.save('filter')}`;
    expect(after).not.toContain('KUBE-');
    expect(after).toContain('-A POSTROUTING -j OTHER');
  });
});
