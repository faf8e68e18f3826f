import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { chainText, tablesOf } from '../../src/iptables/parse-restore.js';
import { RestoreRunner, type IptablesBackend } from '../../src/iptables/restore-runner.js';
import { NetnsLab } from './proxy-iptables-lab.js';

/**
 * keel renders rules in the form iptables-save prints them back, so a
 * resync that changes nothing sends nothing. Checked here for the golden
 * fixture against the real tools, both backends.
 */
const golden = readFileSync(new URL('../../src/proxy-iptables/testdata/basic.golden', import.meta.url), 'utf8');
const lab = new NetnsLab();
afterAll(() => lab.destroy());

describe.each<IptablesBackend>(['nft', 'legacy'])('golden rules in the kernel (%s)', (backend) => {
  it('pass iptables-restore --test, load, and read back identical chain by chain', async () => {
    const ns = await lab.netns(`c${backend.slice(0, 3)}`);
    const runner = new RestoreRunner({ backend, netns: ns });
    await runner.restore(golden, { noflush: true, test: true });
    await runner.restore(golden, { noflush: true });
    const wanted = tablesOf(golden);
    for (const table of ['nat', 'filter'] as const) {
      const kernel = tablesOf(await runner.save(table)).get(table);
      for (const [name, chain] of wanted.get(table) ?? []) {
        const got = kernel?.get(name);
        expect(got && chainText(got), `${table} ${name}`).toBe(chainText(chain));
      }
    }
  });
});
