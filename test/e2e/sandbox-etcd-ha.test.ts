/**
 * Seed 003 in the sandbox: `keel up --etcd-members 3 --etcd-tls` with seed
 * 004 on it. The leader is stopped with `keel etcd stop`, the RC scaled
 * from 2 to 3: the new endpoint reaches every node's rules and DNS (a
 * headless service lists every replica); the member started again catches
 * up; no member serves a client without a certificate; stopping below the
 * quorum needs --force. Figures are printed, not asserted.
 *
 * Address plan: underlay 172.30.0.0/24 (node-i .i, client .253, etcd-1 .254,
 * etcd-2 .252, etcd-3 .251), pods 10.244.0.0/16, services 10.96.0.0/12.
 */
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxEtcdConnection, type SandboxEtcdMember } from '../../src/sandbox/sandbox-state.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { keel } from '../support/keel-cli.js';
import { TestSandbox, until } from './sandbox-support.js';

const HEADLESS =
  'apiVersion: v1\nkind: Service\nmetadata: { name: nginx-headless }\nspec:\n  clusterIP: None\n  selector: { name: nginx }\n  ports: [{ port: 80 }]\n';

describe('keel up --etcd-members 3 --etcd-tls (seed 003)', () => {
  const sbx = new TestSandbox();
  const figures: string[] = [];

  beforeAll(async () => {
    const t0 = Date.now();
    await sbx.up(['--etcd-members', '3', '--etcd-tls']);
    figures.push(`keel up with 3 TLS members: ${Date.now() - t0} ms`);
    writeFileSync(join(sbx.runDir, 'headless.yaml'), HEADLESS);
    expect((await sbx.keel(['apply', '-f', 'fixtures/sandbox/nginx/', '-f', join(sbx.runDir, 'headless.yaml')])).exitCode).toBe(0);
    await sbx.readyPods('nginx-controller-', 2);
  }, 180_000);

  afterAll(async () => {
    await sbx.down();
    console.log(figures.join('\n'));
  });

  /** Every member's own view over its socket alone: its leader flag and revision. */
  async function memberView(m: SandboxEtcdMember): Promise<{ leader: boolean; revision: number } | undefined> {
    const client = createEtcdClient({ ...sandboxEtcdConnection(sbx.state, [m]), callTimeoutMs: 1_500 });
    try {
      const s = await client.maintenance.status();
      return { leader: s.leader === s.header.member_id, revision: Number(s.header.revision) };
    } catch {
      return undefined;
    } finally {
      client.close();
    }
  }

  async function leader(among: SandboxEtcdMember[]): Promise<SandboxEtcdMember | undefined> {
    for (const m of among) if ((await memberView(m))?.leader) return m;
    return undefined;
  }

  async function everyNodeHas(podIps: string[]): Promise<boolean> {
    for (const node of sbx.state.nodes) {
      const nat = await sbx.exec({ node: node.name }, ['iptables-save', '-t', 'nat']);
      if (!podIps.every((ip) => nat.includes(`"default/nginx-service-clusterip -> ${ip}:80"`))) return false;
      const dig = await sbx.exec({ node: node.name }, [
        'dig',
        '+short',
        '+time=1',
        '+tries=1',
        `@${node.ip}`,
        'nginx-headless.default.svc.cluster.local',
      ]);
      if (dig.split('\n').filter(Boolean).sort().join() !== [...podIps].sort().join()) return false;
    }
    return true;
  }

  it('lists the three members with one leader in keel status', async () => {
    const status = await sbx.keel(['status']);
    expect(status.stdout).toMatch(/MEMBER\s+IP\s+HEALTH\s+LEADER\s+REVISION\s+DB-SIZE/);
    for (const m of sbx.state.etcd.members)
      expect(status.stdout).toMatch(new RegExp(`${m.name} \\(pid \\d+\\)\\s+${m.ip.replace(/\./g, '\\.')}\\s+healthy`));
    expect(status.stdout.match(/healthy\s+yes/g)).toHaveLength(1);
  });

  it('serves no client without a certificate, on the underlay or the socket, and writes its keys 0600', async () => {
    const ca = join(sbx.runDir, 'pki', 'ca.pem');
    for (const m of sbx.state.etcd.members) {
      const url = `https://${m.ip}:2379/health`;
      const without = await execa('ip', ['netns', 'exec', sbx.state.nodes[0]!.netns, 'curl', '-s', '-m', '3', '--cacert', ca, url], {
        reject: false,
      });
      expect(without.exitCode, `${m.name} over the underlay without a certificate`).not.toBe(0);
      const withCert = await execa(
        'ip',
        [
          'netns',
          'exec',
          sbx.state.nodes[0]!.netns,
          'curl',
          '-s',
          '-m',
          '3',
          '--cacert',
          ca,
          '--cert',
          join(sbx.runDir, 'pki', 'client.pem'),
          '--key',
          join(sbx.runDir, 'pki', 'client-key.pem'),
          url,
        ],
        { reject: false },
      );
      expect(withCert.stdout).toContain('"health":"true"');
      const { endpoints } = sandboxEtcdConnection(sbx.state, [m]);
      const bare = createEtcdClient({ endpoints, cafile: ca, callTimeoutMs: 2_000 });
      await expect(bare.get('/registry/x').string(), `${m.name} over its socket without a certificate`).rejects.toThrow();
      bare.close();
    }
    for (const key of ['server-key.pem', 'peer-key.pem', 'client-key.pem']) {
      expect((await execa('stat', ['-c', '%a', join(sbx.runDir, 'pki', key)])).stdout).toBe('600');
    }
  });

  it("with the leader stopped, a scaled RC reaches every node's rules and DNS; the member rejoins and catches up", async () => {
    const members = sbx.state.etcd.members;
    const old = await until('a leader', () => leader(members));
    const stoppedAt = Date.now();
    const stop = await sbx.keel(['etcd', 'stop', old.name]);
    expect(stop.stdout).toContain(`etcd member ${old.name} stopped; 2 of 3 running (quorum 2)`);
    const returnedAt = Date.now();
    const others = members.filter((m) => m !== old);
    await until('a new leader', () => leader(others));
    figures.push(
      `keel etcd stop ${old.name} (the leader) took ${returnedAt - stoppedAt} ms; a new leader ${Date.now() - returnedAt} ms after it returned`,
    );

    const scaledAt = Date.now();
    const rc = readFileSync('fixtures/sandbox/nginx/nginx-rc.yaml', 'utf8').replace('replicas: 2', 'replicas: 3');
    expect((await keel(['apply', '-f', '-'], { KEEL_RUN_DIR: sbx.runDir }, rc)).stdout).toContain(
      'replicationcontroller/nginx-controller configured',
    );
    const pods = await sbx.readyPods('nginx-controller-', 3);
    const ips = pods.map((p) => p.status!.podIP!);
    await until("3 endpoints in every node's rules and DNS", () => everyNodeHas(ips), 60_000);
    figures.push(`RC scaled 2→3 with the leader stopped to the third endpoint in all 3 nodes' rules and DNS: ${Date.now() - scaledAt} ms`);

    const startedAt = Date.now();
    expect((await sbx.keel(['etcd', 'start', old.name])).stdout).toContain(`etcd member ${old.name} started`);
    const caughtUp = await until("the restarted member at the others' revision", async () => {
      const [mine, theirs] = [await memberView(old), await memberView(others[0]!)];
      return mine && theirs && mine.revision === theirs.revision && mine.revision > 0 ? mine.revision : undefined;
    });
    figures.push(`${old.name} started to caught up (revision ${caughtUp}): ${Date.now() - startedAt} ms`);
    // Its own socket alone now serves the scaled RC's endpoints.
    const alone = createEtcdClient(sandboxEtcdConnection(sbx.state, [old]));
    try {
      const value = await alone.get('/registry/services/endpoints/default/nginx-service-clusterip').string();
      for (const ip of ips) expect(value).toContain(ip);
    } finally {
      alone.close();
    }
  }, 180_000);

  it('refuses to stop the last quorum member without --force', async () => {
    const [a, b] = sbx.state.etcd.members;
    expect((await sbx.keel(['etcd', 'stop', a!.name])).exitCode).toBe(0);
    const refused = await sbx.keel(['etcd', 'stop', b!.name]);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain('below the quorum of 2');
    expect(refused.stderr).toContain('--force');
    expect((await sbx.keel(['status'])).stdout).toMatch(new RegExp(`${b!.name} \\(pid \\d+\\)\\s+\\S+\\s+healthy`));
    expect((await sbx.keel(['etcd', 'start', a!.name])).exitCode).toBe(0);
  }, 60_000);
});

describe('keel up --etcd-members, bad sizes', () => {
  it.each([
    ['2', 'tolerate no failure'],
    ['4', 'tolerate one failure, as 3 do'],
  ])('refuses %s with one line saying why', async (n, why) => {
    const res = await keel(['up', '--etcd-members', n, '--run-dir', '/nonexistent/keel-never-made']);
    expect(res.exitCode).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain(why);
  });

  it('reads KEEL_ETCD_MEMBERS the same way', async () => {
    const res = await keel(['up', '--run-dir', '/nonexistent/keel-never-made'], { KEEL_ETCD_MEMBERS: '2' });
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain('--etcd-members: 2 members tolerate no failure');
  });
});
