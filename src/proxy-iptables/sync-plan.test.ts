import { describe, expect, it } from 'vitest';
import { FakeRunner } from '../kernel/iptables/testing/fake-runner.js';
import { compileRules, DEFAULT_MASQUERADE_BIT } from './compile.js';
import { renderRestore } from './render-restore.js';
import { allCandidates, kernelViewOf, planCleanup, planSync } from './sync-plan.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';

const node = { nodeName: 'node-a', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
const svc = makeService('ns', 'web', (s) => {
  s.clusterIP = '10.96.0.10';
  s.ports = [{ port: 80 }];
});
const rules = compileRules(snapshotOf([svc], [makeEndpoints('ns', 'web', [{ ip: '10.244.1.1' }], [{ port: 80 }])]), node);

async function viewOf(fake: FakeRunner) {
  return kernelViewOf({ nat: await fake.save('nat'), filter: await fake.save('filter') });
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
});
