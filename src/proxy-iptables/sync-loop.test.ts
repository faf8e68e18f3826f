import { describe, expect, it } from 'vitest';
import { FakeRunner } from '../kernel/iptables/testing/fake-runner.js';
import { setLogSink } from '../observe/log.js';
import { FakeClock } from '../runtime/testing/fake-clock.js';
import { DEFAULT_MASQUERADE_BIT, type NodeConfig } from './compile.js';
import type { Conntrack, StaleFlow } from '../kernel/conntrack/conntrack.js';
import { FULL_SYNC_PERIOD_MS } from '../proxy-sync/proxy-sync-loop.js';
import { rulesTotal } from './metrics.js';
import { SyncLoop } from './sync-loop.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';

const node: NodeConfig = { nodeName: 'node-a', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
setLogSink({ write: () => undefined });

const web = makeService('default', 'web', (s) => {
  s.clusterIP = '10.96.0.10';
  s.ports = [{ port: 80 }];
});
const dns = makeService('default', 'dns', (s) => {
  s.clusterIP = '10.96.0.53';
  s.ports = [{ port: 53, protocol: 'UDP' }];
});
const webEps = (...ips: string[]) =>
  makeEndpoints(
    'default',
    'web',
    ips.map((ip) => ({ ip })),
    [{ port: 8080 }],
  );
const dnsEps = (...ips: string[]) =>
  makeEndpoints(
    'default',
    'dns',
    ips.map((ip) => ({ ip })),
    [{ port: 53, protocol: 'UDP' }],
  );
const changed = (keys: string[], full = false) => ({ services: new Set(keys), endpoints: new Set(keys), pods: new Set<string>(), full });

function setup() {
  const clock = new FakeClock();
  const fake = new FakeRunner();
  const flows: StaleFlow[] = [];
  const conntrack: Conntrack = { deleteUdp: async (f) => void flows.push(f) };
  const loop = new SyncLoop({ runner: fake, node, conntrack, clock });
  return { fake, loop, flows, clock, advance: (ms: number) => clock.advance(ms) };
}

describe('SyncLoop', () => {
  it('does nothing before the first snapshot', async () => {
    const { loop, fake } = setup();
    expect((await loop.sync()).kind).toBe('none');
    expect(fake.restores).toHaveLength(0);
  });

  it('writes everything once, then a resync that finds the kernel equal sends nothing', async () => {
    const { loop, fake, advance } = setup();
    loop.update(
      snapshotOf([web, dns], [webEps('10.244.1.1', '10.244.1.2'), dnsEps('10.244.1.3')]),
      changed(['default/web', 'default/dns'], true),
    );
    expect((await loop.sync()).kind).toBe('full');
    expect(fake.restores).toHaveLength(1);
    await advance(FULL_SYNC_PERIOD_MS);
    const again = await loop.sync();
    expect(again).toEqual({ kind: 'full', written: 0, deleted: 0, bytes: 0 });
    expect(fake.restores).toHaveLength(1);
  });

  it('a periodic sync with nothing changed reads only the canary chains, never a whole table', async () => {
    const { loop, fake, advance } = setup();
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await loop.sync();
    expect(fake.saves).toEqual(['nat', 'filter']);
    expect(await fake.listChain('nat', 'KUBE-KEEL-CANARY')).toBe('-N KUBE-KEEL-CANARY\n-A KUBE-KEEL-CANARY -j RETURN\n');
    for (let i = 0; i < 10; i++) {
      await advance(30_000);
      expect(await loop.sync()).toEqual({ kind: 'partial', written: 0, deleted: 0, bytes: 0 });
    }
    expect(fake.saves).toHaveLength(2);
    expect(fake.restores).toHaveLength(1);
    expect(loop.lastSuccess()).toBe(300_000);
  });

  it('resyncs fully when someone flushed the table and the canary went with it', async () => {
    const { loop, fake, advance } = setup();
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await loop.sync();
    const before = await fake.save('nat');
    await fake.restore('*nat\nCOMMIT\n', { noflush: false });
    await advance(30_000);
    const res = await loop.sync();
    expect(res.kind).toBe('full');
    expect(res.written).toBeGreaterThan(0);
    expect(await fake.save('nat')).toBe(before);
  });

  it('resyncs fully when the canary chain is still there but flushed', async () => {
    const { loop, fake, advance } = setup();
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await loop.sync();
    await fake.restore('*filter\n:KUBE-KEEL-CANARY - [0:0]\nCOMMIT\n');
    await advance(30_000);
    expect(await loop.sync()).toMatchObject({ kind: 'full', written: 1 });
    expect(await fake.listChain('filter', 'KUBE-KEEL-CANARY')).toContain('-A KUBE-KEEL-CANARY -j RETURN');
  });

  // kube-proxy reads the node's addresses on every sync (proxier.go: nodePortAddresses.GetNodeIPs).
  it('follows the addresses --nodeport-addresses picks: one added later answers NodePorts after the next sync, which is full', async () => {
    let addresses = ['172.30.0.1'];
    const fake = new FakeRunner();
    const loop = new SyncLoop({
      runner: fake,
      node: { ...node, nodePortAddresses: addresses },
      nodePortAddresses: () => addresses,
      clock: new FakeClock(),
    });
    const count = async () => (await rulesTotal.get()).values.find((v) => v.labels.table === 'nat')?.value;
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    expect((await loop.sync()).kind).toBe('full');
    const before = await count();
    expect(await loop.sync()).toMatchObject({ kind: 'partial', written: 0 });
    addresses = ['172.30.0.1', '172.30.5.1'];
    expect(await loop.sync()).toMatchObject({ kind: 'full', written: 1 });
    expect(fake.restores.at(-1)).toMatch(/^-A KUBE-SERVICES -d 172\.30\.5\.1\/32 .*-j KUBE-NODEPORTS$/m);
    expect(await count()).toBe((before ?? 0) + 1);
    expect(await loop.sync()).toMatchObject({ kind: 'partial', written: 0 });
  });

  it('checks the canary each period even while changes keep every sync partial, after programming the change', async () => {
    const { loop, fake, advance } = setup();
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await loop.sync();
    await fake.restore('*nat\n:KUBE-KEEL-CANARY - [0:0]\n-X KUBE-KEEL-CANARY\nCOMMIT\n');
    await advance(10_000);
    loop.update(snapshotOf([web], [webEps('10.244.1.2')]), changed(['default/web']));
    const listed: string[] = [];
    const listChain = fake.listChain.bind(fake);
    fake.listChain = async (table, chain) => {
      listed.push(`${table} after ${fake.restores.length} restores`);
      return listChain(table, chain);
    };
    expect((await loop.sync()).kind).toBe('partial');
    expect(listed).toEqual([]);
    await advance(20_000);
    loop.update(snapshotOf([web], [webEps('10.244.1.3')]), changed(['default/web']));
    expect((await loop.sync()).kind).toBe('partial');
    // The check came after this change's restore (the fourth: full sync, the test's, two changes), found the canary gone and asked for a full sync.
    expect(listed).toEqual(['nat after 4 restores']);
    expect((await loop.sync()).kind).toBe('full');
    expect(fake.chainNames('nat')).toContain('KUBE-KEEL-CANARY');
  });

  it('programs a service whose update arrived while the periodic check was reading the kernel', async () => {
    // The interleaving the loaded etcd-ha fault lab hit: the check's iptables call is slow, and a
    // delivery lands during it with a new snapshot and the new service's key.
    const { loop, fake, advance } = setup();
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await loop.sync();
    await advance(30_000);
    let release!: () => void;
    const checking = new Promise<void>((resolve) => {
      release = resolve;
    });
    const listChain = fake.listChain.bind(fake);
    let delivered = false;
    fake.listChain = async (table, chain) => {
      if (!delivered) {
        delivered = true;
        loop.update(snapshotOf([web, dns], [webEps('10.244.1.1'), dnsEps('10.244.1.3')]), changed(['default/dns']));
        await checking;
      }
      return listChain(table, chain);
    };
    const first = loop.sync();
    release();
    await first;
    // The update asked for another sync; it runs with whatever the first left pending.
    await loop.sync();
    expect(await fake.save('nat')).toContain('-d 10.96.0.53/32');
  });

  it("rewrites only the changed service's chains on an endpoint change, and deletes the stale SEP", async () => {
    const { loop, fake } = setup();
    loop.update(snapshotOf([web, dns], [webEps('10.244.1.1', '10.244.1.2'), dnsEps('10.244.1.3')]), changed([], true));
    await loop.sync();
    const dnsChains = fake.chainNames('nat').filter((c) => c.startsWith('KUBE-S') && c !== 'KUBE-SERVICES');
    loop.update(snapshotOf([web, dns], [webEps('10.244.1.1'), dnsEps('10.244.1.3')]), changed(['default/web']));
    const res = await loop.sync();
    expect(res.kind).toBe('partial');
    const text = fake.restores.at(-1) ?? '';
    expect(text).not.toContain(':KUBE-SERVICES');
    expect(text).not.toContain('*filter');
    expect(res).toMatchObject({ written: 1, deleted: 1 });
    expect(text).toMatch(/^-X KUBE-SEP-/m);
    expect(fake.chainNames('nat').filter((c) => c.startsWith('KUBE-S') && c !== 'KUBE-SERVICES')).toHaveLength(dnsChains.length - 1);
  });

  it('switches a service with no endpoints left to REJECT and removes its chains', async () => {
    const { loop, fake } = setup();
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await loop.sync();
    loop.update(snapshotOf([web], []), changed(['default/web']));
    await loop.sync();
    expect(await fake.save('filter')).toContain('"default/web has no endpoints" -m tcp --dport 80 -j REJECT');
    expect(fake.chainNames('nat').some((c) => c.startsWith('KUBE-SVC-') || c.startsWith('KUBE-SEP-'))).toBe(false);
  });

  it('keeps the old rules after a failed restore and resyncs fully next time', async () => {
    const { loop, fake } = setup();
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await loop.sync();
    const before = await fake.save('nat');
    fake.failNext = 'No chain/target/match by that name.';
    loop.update(snapshotOf([web], [webEps('10.244.1.2')]), changed(['default/web']));
    await expect(loop.sync()).rejects.toMatchObject({ code: 'KEEL_RESTORE_FAILED' });
    expect(await fake.save('nat')).toBe(before);
    const saves = fake.saves.length;
    const res = await loop.sync();
    expect(res.kind).toBe('full');
    expect(fake.saves.length).toBe(saves + 2);
    expect(await fake.save('nat')).toContain('--to-destination 10.244.1.2:8080');
    expect(await fake.save('nat')).not.toContain('10.244.1.1:8080');
  });

  it("deletes chains a previous run left behind, and only keel's", async () => {
    const { loop, fake } = setup();
    await fake.restore('*nat\n:KUBE-SEP-OLDOLDOLDOLDOLDO - [0:0]\n:OTHER - [0:0]\n-A OTHER -j RETURN\nCOMMIT\n');
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await loop.sync();
    expect(fake.chainNames('nat')).not.toContain('KUBE-SEP-OLDOLDOLDOLDOLDO');
    expect(fake.chainNames('nat')).toContain('OTHER');
  });

  it('forgets UDP conntrack entries to removed endpoints', async () => {
    const { loop, flows } = setup();
    loop.update(snapshotOf([dns], [dnsEps('10.244.1.3', '10.244.1.4')]), changed([], true));
    await loop.sync();
    loop.update(snapshotOf([dns], [dnsEps('10.244.1.4')]), changed(['default/dns']));
    await loop.sync();
    expect(flows).toEqual([{ origDst: '10.96.0.53', port: 53, dstNat: '10.244.1.3' }]);
  });

  it('start() waits for a snapshot, retries a failed sync fully after 1 s, resolves after the first success, and syncs every period', async () => {
    const { loop, fake, clock, advance } = setup();
    const ac = new AbortController();
    let started = false;
    void loop.start(ac.signal).then(() => {
      started = true;
    });
    await advance(60_000);
    expect(fake.saves).toEqual([]);
    fake.failNext = 'No chain/target/match by that name.';
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await advance(0);
    expect(started).toBe(false);
    await advance(999);
    expect(fake.restores).toHaveLength(0);
    await advance(1);
    expect(fake.restores).toHaveLength(1);
    expect(started).toBe(true);
    expect(loop.lastSuccess()).toBe(61_000);
    const saves = fake.saves.length;
    await advance(30_000);
    // The periodic sync checked the canaries only: no table was read.
    expect(loop.lastSuccess()).toBe(clock.now());
    expect(fake.saves.length).toBe(saves);
    ac.abort();
  });

  it('start() syncs on change and stops on abort', async () => {
    const fake = new FakeRunner();
    const loop = new SyncLoop({ runner: fake, node, syncPeriodMs: 60_000 });
    const ac = new AbortController();
    const running = loop.start(ac.signal);
    loop.update(snapshotOf([web], [webEps('10.244.1.1')]), changed([], true));
    await expect.poll(() => fake.restores.length).toBe(1);
    loop.update(snapshotOf([web], [webEps('10.244.1.2')]), changed(['default/web']));
    await expect.poll(() => fake.restores.length).toBe(2);
    ac.abort();
    await running;
  });
});
