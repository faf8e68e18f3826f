import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chainText, tablesOf } from '../../src/kernel/iptables/parse-restore.js';
import { RestoreRunner, type IptablesBackend } from '../../src/kernel/iptables/restore-runner.js';
import { loadSnapshot, nodeConfig } from '../../src/cli/rules.js';
import { compileRules } from '../../src/proxy-iptables/compile.js';
import { renderRestore } from '../../src/proxy-iptables/render-restore.js';
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

describe('keel rules -f output', () => {
  it('allocates deterministically and passes iptables-restore --test', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kp-rules-'));
    try {
      writeFileSync(
        join(dir, 'svc.yaml'),
        [
          'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: NodePort, ports: [{name: http, port: 80, targetPort: http}]}',
          'apiVersion: v1\nkind: Service\nmetadata: {name: fixed}\nspec: {clusterIP: 10.96.0.1, ports: [{port: 53, protocol: UDP}]}',
          'apiVersion: v1\nkind: Endpoints\nmetadata: {name: web}\nsubsets: [{addresses: [{ip: 10.244.1.5}], ports: [{name: http, port: 8080}]}]',
        ].join('\n---\n'),
      );
      const flags = {
        filename: [dir],
        nodeName: 'node-1',
        clusterCidr: '10.244.0.0/16',
        iptablesBackend: 'nft',
        etcdPrefix: '/registry',
        serviceClusterIpRange: '10.96.0.0/12',
        serviceNodePortRange: '30000-32767',
      };
      const text = renderRestore(compileRules(await loadSnapshot(flags), nodeConfig(flags)));
      expect(renderRestore(compileRules(await loadSnapshot(flags), nodeConfig(flags)))).toBe(text);
      expect(text).toContain('-A KUBE-SERVICES -d 10.96.0.2/32 -p tcp -m comment --comment "default/web:http cluster IP"');
      expect(text).toContain('-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30000');
      const ns = await lab.netns('rules');
      await new RestoreRunner({ backend: 'nft', netns: ns }).restore(text, { noflush: true, test: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
