import { beforeEach, describe, expect, it } from 'vitest';
import { FakeRunner } from '../kernel/iptables/testing/fake-runner.js';
import { CANARY_CHAIN, isServiceChainName } from './chain-names.js';
import { compileRules, DEFAULT_MASQUERADE_BIT, type RuleSet } from './compile.js';
import { renderRestore } from './render-restore.js';
import { allCandidates, kernelViewOf, planCleanup, planSync, type KernelView } from './sync-plan.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';

const node = { nodeName: 'node-a', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
const svc = makeService('ns', 'web', (s) => {
  s.clusterIP = '10.96.0.10';
  s.ports = [{ port: 80 }];
});
// The rule tables are compiled before each test, not at file load, so Stryker runs a mutant in the compiler only against the tests that reach it.
let rules: RuleSet;
let both: RuleSet;

const old = makeService('ns', 'old', (s) => {
  s.clusterIP = '10.96.0.11';
  s.ports = [{ port: 53, protocol: 'UDP' }];
});
beforeEach(() => {
  rules = compileRules(snapshotOf([svc], [makeEndpoints('ns', 'web', [{ ip: '10.244.1.1' }], [{ port: 80 }])]), node);
  both = compileRules(
    snapshotOf(
      [svc, old],
      [
        makeEndpoints('ns', 'web', [{ ip: '10.244.1.1' }], [{ port: 80 }]),
        makeEndpoints('ns', 'old', [{ ip: '10.244.1.2' }], [{ port: 53, protocol: 'UDP' }]),
      ],
    ),
    node,
  );
});

async function viewOf(fake: FakeRunner) {
  return kernelViewOf({ nat: await fake.save('nat'), filter: await fake.save('filter') });
}

const jumpsOf = (r: RuleSet) => ({ nat: r.nat.jumps, filter: r.filter.jumps });

/** A full resync as the sync loop does it: plan from the view, restore, apply the plan to the view. */
async function fullSync(fake: FakeRunner, r: RuleSet, view: KernelView) {
  const plan = planSync(allCandidates(r, view), jumpsOf(r), view);
  if (plan.text) await fake.restore(plan.text);
  plan.apply(view);
  return plan;
}

/**
 * The view a sync left behind holds what the kernel holds: every chain it names, with the same rules, and every keel chain;
 * a deleted chain leaves no name behind (the agent runs for months through service churn).
 */
async function expectViewIsKernel(view: KernelView, fake: FakeRunner) {
  const kernel = await viewOf(fake);
  for (const table of ['nat', 'filter'] as const) {
    for (const [name, body] of view[table])
      expect([table, name, kernel[table].has(name), body]).toEqual([table, name, true, kernel[table].get(name)]);
    for (const [name, body] of kernel[table])
      if (name.startsWith('KUBE-')) expect([table, name, view[table].get(name)]).toEqual([table, name, body]);
  }
}

describe('planSync', () => {
  it('inserts each jump once, in order, and finds nothing to do the second time', async () => {
    const fake = new FakeRunner();
    const first = planSync(
      allCandidates(rules, await viewOf(fake)),
      { nat: rules.nat.jumps, filter: rules.filter.jumps },
      await viewOf(fake),
    );
    await fake.restore(first.text);
    const view = await viewOf(fake);
    expect(
      view.filter
        .get('FORWARD')
        ?.split('\n')
        .map((l) => /-j (\S+)$/.exec(l)?.[1]),
    ).toEqual(['KUBE-PROXY-FIREWALL', 'KUBE-FORWARD', 'KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES']);
    expect(planSync(allCandidates(rules, view), { nat: rules.nat.jumps, filter: rules.filter.jumps }, view).text).toBe('');
  });

  it('deletes extra copies of a jump, keeping one', async () => {
    const fake = new FakeRunner();
    const jumps = { nat: rules.nat.jumps, filter: rules.filter.jumps };
    await fake.restore(planSync(allCandidates(rules, await viewOf(fake)), jumps, await viewOf(fake)).text);
    await fake.restore('*nat\n-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\nCOMMIT\n');
    const doubled = await viewOf(fake);
    expect(
      doubled.nat
        .get('PREROUTING')
        ?.split('\n')
        .filter((l) => l.endsWith('-j KUBE-SERVICES')),
    ).toHaveLength(2);
    const plan = planSync(allCandidates(rules, doubled), jumps, doubled);
    await fake.restore(plan.text);
    const view = await viewOf(fake);
    expect(
      view.nat
        .get('PREROUTING')
        ?.split('\n')
        .filter((l) => l.endsWith('-j KUBE-SERVICES')),
    ).toHaveLength(1);
    plan.apply(doubled);
    expect(doubled.nat.get('PREROUTING')).toBe(view.nat.get('PREROUTING'));
    expect(planSync(allCandidates(rules, view), jumps, view).text).toBe('');
  });

  it('leaves one copy of a tripled jump among other rules, and its view is what the kernel keeps', async () => {
    const fake = new FakeRunner();
    const view = await viewOf(fake);
    await fullSync(fake, rules, view);
    const jump = rules.nat.jumps.find((j) => j.chain === 'PREROUTING')?.rule;
    await fake.restore(`*nat\n:OTHER - [0:0]\n-A PREROUTING -j OTHER\n-A PREROUTING ${jump}\n-A PREROUTING ${jump}\nCOMMIT\n`);
    const tripled = await viewOf(fake);
    await fullSync(fake, rules, tripled);
    expect((await fake.listChain('nat', 'PREROUTING'))?.split('\n').filter((l) => l.endsWith('-j KUBE-SERVICES'))).toHaveLength(1);
    await expectViewIsKernel(tripled, fake);
    expect(planSync(allCandidates(rules, tripled), jumpsOf(rules), tripled).text).toBe('');
  });
});

describe('kernelViewOf', () => {
  it("holds keel's chains and the built-in chains, not other tools' chains", async () => {
    const fake = new FakeRunner();
    await fake.restore(renderRestore(rules));
    await fake.restore('*nat\n:OTHER - [0:0]\n-A OTHER -j RETURN\nCOMMIT\n*filter\n:KUBE-SVC-NOTKEELS - [0:0]\nCOMMIT\n');
    const view = await viewOf(fake);
    // A KUBE-SVC- name is keel's in nat, where service chains live; in filter it is someone else's.
    expect([...view.nat.keys()].filter((n) => !n.startsWith('KUBE-')).sort()).toEqual(['INPUT', 'OUTPUT', 'POSTROUTING', 'PREROUTING']);
    expect([...view.nat.keys()].filter((n) => n.startsWith('KUBE-')).sort()).toEqual(rules.nat.chains.map((c) => c.name).sort());
    expect([...view.filter.keys()].sort()).toEqual([...rules.filter.chains.map((c) => c.name), 'FORWARD', 'INPUT', 'OUTPUT'].sort());
  });

  it('is empty for a kernel without the nat and filter tables', () => {
    const view = kernelViewOf({ nat: '', filter: '' });
    expect([view.nat.size, view.filter.size]).toEqual([0, 0]);
  });
});

describe('allCandidates', () => {
  it('compares every wanted chain, the canary of each table, and each service chain keel left behind', async () => {
    const fake = new FakeRunner();
    const view = await viewOf(fake);
    await fullSync(fake, both, view);
    const gone = both.nat.chains.map((c) => c.name).filter((n) => isServiceChainName(n) && !rules.nat.chains.some((c) => c.name === n));
    expect(gone.length).toBeGreaterThan(0);
    const candidates = allCandidates(rules, view);
    expect(candidates.map((c) => [c.table, c.name, c.chain === undefined])).toEqual([
      ...rules.filter.chains.map((c) => ['filter', c.name, false]),
      ['filter', CANARY_CHAIN, false],
      ...rules.nat.chains.map((c) => ['nat', c.name, false]),
      ['nat', CANARY_CHAIN, false],
      ...gone.map((n) => ['nat', n, true]),
    ]);
  });
});

describe('planSync, full resyncs', () => {
  it('writes every chain and the canary the periodic check reads into a bare kernel, and the view then is the kernel', async () => {
    const fake = new FakeRunner();
    const view = kernelViewOf({ nat: '', filter: '' });
    const plan = await fullSync(fake, rules, view);
    expect([plan.written, plan.deleted]).toEqual([rules.nat.chains.length + rules.filter.chains.length + 2, 0]);
    for (const table of ['nat', 'filter'] as const)
      expect(await fake.listChain(table, CANARY_CHAIN)).toBe(`-N ${CANARY_CHAIN}\n-A ${CANARY_CHAIN} -j RETURN\n`);
    await expectViewIsKernel(view, fake);
    expect(planSync(allCandidates(rules, view), jumpsOf(rules), view).text).toBe('');
  });

  it("deletes a removed service's chains, counts them, and the next sync has nothing to do", async () => {
    const fake = new FakeRunner();
    const view = await viewOf(fake);
    await fullSync(fake, both, view);
    const gone = both.nat.chains.filter((c) => !rules.nat.chains.some((k) => k.name === c.name)).map((c) => c.name);
    const plan = await fullSync(fake, rules, view);
    expect(plan.deleted).toBe(gone.length);
    expect(plan.text).toContain(gone.map((n) => `-X ${n}`).join('\n'));
    for (const n of gone) expect(fake.chainNames('nat')).not.toContain(n);
    await expectViewIsKernel(view, fake);
    expect(planSync(allCandidates(rules, view), jumpsOf(rules), view).text).toBe('');
  });

  it('restores a flushed canary and a deleted jump in the same table in one sync', async () => {
    const fake = new FakeRunner();
    await fake.restore('*nat\n:OTHER - [0:0]\n-A PREROUTING -j OTHER\nCOMMIT\n');
    const view = await viewOf(fake);
    await fullSync(fake, rules, view);
    const jump = rules.nat.jumps.find((j) => j.chain === 'PREROUTING');
    await fake.restore(`*nat\n-F ${CANARY_CHAIN}\n-D PREROUTING ${jump?.rule}\nCOMMIT\n`);
    const touched = await viewOf(fake);
    const plan = await fullSync(fake, rules, touched);
    expect(plan.text).toBe(`*nat\n:${CANARY_CHAIN} - [0:0]\n-A ${CANARY_CHAIN} -j RETURN\n-I PREROUTING 1 ${jump?.rule}\nCOMMIT\n`);
    await expectViewIsKernel(touched, fake);
  });
});

describe('planSync, partial syncs', () => {
  it('writes nothing for a stale chain the kernel does not hold', () => {
    const plan = planSync(
      [{ table: 'nat', name: 'KUBE-SEP-NEVERWRITTEN1', chain: undefined }],
      { nat: [], filter: [] },
      kernelViewOf({ nat: '', filter: '' }),
    );
    expect([plan.text, plan.deleted]).toEqual(['', 0]);
  });

  it('empties a chain by declaring it, which flushes it, and writes no blank line', async () => {
    const fake = new FakeRunner();
    const view = await viewOf(fake);
    await fullSync(fake, rules, view);
    const plan = planSync(
      [{ table: 'nat', name: 'KUBE-SERVICES', chain: { name: 'KUBE-SERVICES', rules: [] } }],
      { nat: [], filter: [] },
      view,
    );
    expect([plan.text, plan.written]).toEqual(['*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n', 1]);
    await fake.restore(plan.text);
    plan.apply(view);
    await expectViewIsKernel(view, fake);
  });
});

describe('planCleanup', () => {
  it('removes keel chains and jumps, nothing else', async () => {
    const fake = new FakeRunner();
    await fake.restore('*nat\n:OTHER - [0:0]\n-A PREROUTING -j OTHER\nCOMMIT\n');
    await fake.restore(renderRestore(rules));
    await fake.restore(planCleanup(await viewOf(fake)));
    const left = `${await fake.save('nat')}${await fake.save('filter')}`;
    expect(left).not.toContain('KUBE-');
    expect(left).toContain('-A PREROUTING -j OTHER');
    expect(planCleanup(await viewOf(fake))).toBe('');
  });

  it('leaves rules without a target alone, such as an accounting rule in INPUT', async () => {
    const fake = new FakeRunner();
    await fake.restore('*filter\n-A INPUT -s 10.0.0.1/32\nCOMMIT\n');
    await fake.restore(renderRestore(rules));
    await fake.restore(planCleanup(await viewOf(fake)));
    expect(await fake.save('filter')).toBe(
      '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.1/32\nCOMMIT\n',
    );
  });

  it('removes a lone keel chain and the one jump into it', async () => {
    const fake = new FakeRunner();
    await fake.restore('*filter\n:KUBE-FORWARD - [0:0]\n-A FORWARD -j KUBE-FORWARD\nCOMMIT\n');
    await fake.restore(planCleanup(await viewOf(fake)));
    expect(fake.chainNames('filter')).toEqual(['INPUT', 'FORWARD', 'OUTPUT']);
    expect(await fake.listChain('filter', 'FORWARD')).toBe('-P FORWARD ACCEPT\n');
  });
});
