import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestoreError } from '../../src/kernel/iptables/restore-error.js';
import { RestoreRunner, type IptablesBackend } from '../../src/kernel/iptables/restore-runner.js';
import { REFUSED_RESTORES } from '../../src/kernel/iptables/testing/refused-restores.js';
import { NetnsLab } from './proxy-iptables-lab.js';

const lab = new NetnsLab();
let ns = '';
beforeAll(async () => {
  ns = await lab.netns('run');
});
afterAll(() => lab.destroy());

describe.each<IptablesBackend>(['nft', 'legacy'])('RestoreRunner (%s) in a netns', (backend) => {
  it('loads with --noflush, keeps other rules, and saves', async () => {
    const runner = new RestoreRunner({ backend, netns: ns });
    await runner.restore('*nat\n:OTHER - [0:0]\n-A OTHER -j RETURN\nCOMMIT\n', { noflush: true });
    await runner.restore('*nat\n:KUBE-A - [0:0]\n-A KUBE-A -m comment --comment "x y" -j RETURN\nCOMMIT\n', { noflush: true });
    const saved = await runner.save('nat');
    expect(saved).toContain('-A OTHER -j RETURN');
    expect(saved).toContain('-A KUBE-A -m comment --comment "x y" -j RETURN');
  });

  it('throws KEEL_RESTORE_FAILED with the failing line and neighbours', async () => {
    const runner = new RestoreRunner({ backend, netns: ns });
    const input = '*nat\n:KUBE-B - [0:0]\n-A KUBE-B -j RETURN\n-A KUBE-B -p tcp --dport 99999 -j RETURN\nCOMMIT\n';
    const err = await runner.restore(input, { noflush: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    const re = err as RestoreError;
    expect(re.code).toBe('KEEL_RESTORE_FAILED');
    expect(re.line).toBe(4);
    expect(re.context).toContain('4: -A KUBE-B -p tcp --dport 99999 -j RETURN');
    expect(re.message).toMatch(/line 4: -A KUBE-B/);
    expect(await runner.save('nat')).not.toContain('KUBE-B');
  });

  it('lists one chain as iptables -S prints it, undefined once the chain is gone', async () => {
    const runner = new RestoreRunner({ backend, netns: ns });
    await runner.restore('*filter\n:KUBE-KEEL-CANARY - [0:0]\n-A KUBE-KEEL-CANARY -j RETURN\nCOMMIT\n', { noflush: true });
    expect(await runner.listChain('filter', 'KUBE-KEEL-CANARY')).toBe('-N KUBE-KEEL-CANARY\n-A KUBE-KEEL-CANARY -j RETURN\n');
    await runner.restore('*filter\n:KUBE-KEEL-CANARY - [0:0]\n-X KUBE-KEEL-CANARY\nCOMMIT\n', { noflush: true });
    expect(await runner.listChain('filter', 'KUBE-KEEL-CANARY')).toBeUndefined();
  });

  // The fake runner refuses each of these in its unit test; the kernel must too, or the fake is lying.
  it.each(REFUSED_RESTORES.filter((c) => c.only === undefined || c.only === backend))(
    'refuses $name, as the fake runner does',
    async ({ text }) => {
      const runner = new RestoreRunner({ backend, netns: ns });
      const err = await runner.restore(text, { noflush: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RestoreError);
      expect(await runner.save('nat')).not.toMatch(/KUBE-R\d/);
      expect(await runner.save('filter')).not.toMatch(/KUBE-R\d/);
    },
  );

  it('--test checks without committing', async () => {
    const runner = new RestoreRunner({ backend, netns: ns });
    await runner.restore('*filter\n:KUBE-T - [0:0]\nCOMMIT\n', { noflush: true, test: true });
    expect(await runner.save('filter')).not.toContain('KUBE-T');
  });
});
