/**
 * `keel up` / `keel down` without agents: the topology, etcd on the
 * underlay and on a Unix socket, idempotent up, and a clean down (also
 * after a crash). Each run uses its own temporary run directory, so its
 * namespaces carry their own random `ks<id>-` prefix.
 */
import { execa } from 'execa';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listNetns } from '../../src/sandbox/netns.js';
import { isRunning } from '../../src/sandbox/processes.js';
import { readState, type SandboxState } from '../../src/sandbox/sandbox-state.js';
import { keel } from '../support/keel-cli.js';

describe('keel up / keel down (no agents)', () => {
  const runDir = mkdtempSync(join(tmpdir(), 'keel-sbx-'));
  let state: SandboxState;

  let hostLinks: string;

  beforeAll(async () => {
    hostLinks = await linkNames();
    const up = await keel(['up', '--no-agents', '--nodes', '2', '--run-dir', runDir]);
    expect(up.stderr).toBe('');
    expect(up.exitCode).toBe(0);
    state = readState(runDir) as SandboxState;
  });

  afterAll(async () => {
    await keel(['down', '--run-dir', runDir]);
    rmSync(runDir, { recursive: true, force: true });
  });

  it('builds the namespaces and an underlay the nodes share with etcd', async () => {
    const names = await listNetns();
    for (const ns of [state.switchNetns, ...state.etcd.members.map((m) => m.netns), state.client.netns, ...state.nodes.map((n) => n.netns)])
      expect(names).toContain(ns);
    // node-2 reaches etcd's client port on the underlay.
    const res = await execa(
      'ip',
      ['netns', 'exec', state.nodes[1]!.netns, 'curl', '-sf', '-m', '3', `http://${state.etcd.members[0]!.ip}:2379/health`],
      { reject: false },
    );
    expect(res.stdout).toContain('"health":"true"');
  });

  it('lets keel commands without --etcd-endpoints use the sandbox etcd', async () => {
    const res = await keel(['get', 'svc', '-n', 'kube-system'], { KEEL_RUN_DIR: runDir });
    expect(res.stdout).toMatch(/kube-dns\s+ClusterIP\s+10\.96\.0\.10/);
  });

  it('says a second keel up is already up, and keel status reads it', async () => {
    const again = await keel(['up', '--no-agents', '--run-dir', runDir]);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain(`sandbox ${state.id} is already up`);
    const status = await keel(['status', '--run-dir', runDir]);
    expect(status.stdout).toContain('node-2  172.30.0.2');
    expect(status.stdout).toContain('kube-system/kube-dns');
  });

  it('keel down after a crash leaves no namespace, process or file behind', async () => {
    const current = readState(runDir) as SandboxState;
    // A crash: etcd dies under the sandbox.
    process.kill(current.etcd.members[0]!.process!.pid, 'SIGKILL');
    const down = await keel(['down', '--run-dir', runDir]);
    expect(down.exitCode).toBe(0);
    expect((await listNetns()).filter((n) => n.startsWith(current.prefix))).toEqual([]);
    expect(isRunning(current.etcd.members[0]!.process)).toBe(false);
    expect(isRunning(current.controller)).toBe(false);
    expect(existsSync(join(runDir, 'state.json'))).toBe(false);
    // Nothing was ever made in the host's own namespace.
    expect(await linkNames()).toBe(hostLinks);
    expect((await keel(['down', '--run-dir', runDir])).stdout).toContain('no sandbox');
  });
});

async function linkNames(): Promise<string> {
  const out = (await execa('ip', ['-o', 'link', 'show'])).stdout;
  // Only the names a sandbox uses inside its namespaces: other suites' links are not this test's business.
  const mine = new Set(['br0', 'n1', 'n2', 'etcd', 'client', 'cni0', 'flannel.1', 'flannel0']);
  return out
    .split('\n')
    .map((l) => (l.split(':')[1]?.trim() ?? '').split('@')[0] ?? '')
    .filter((n) => mine.has(n))
    .sort()
    .join(' ');
}
