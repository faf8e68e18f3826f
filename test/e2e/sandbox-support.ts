import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Endpoints } from '../../src/api/endpoints.js';
import type { Pod } from '../../src/api/pod.js';
import { isPodReady } from '../../src/api/pod.js';
import type { Service } from '../../src/api/service.js';
import { readPodRecord } from '../../src/sandbox/pod-records.js';
import { findNode, readState, sandboxEtcdConnection, type SandboxState } from '../../src/sandbox/sandbox-state.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { KvStore } from '../../src/store/kv-store.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { KEEL_BIN, keel } from '../support/keel-cli.js';

/** A sandbox in its own temporary run directory (its namespaces carry a random `ks<id>-` prefix). */
export class TestSandbox {
  readonly runDir = mkdtempSync(join(tmpdir(), 'keel-sbx-'));
  state!: SandboxState;
  objects!: ObjectStore;
  /** What the last `up` printed. */
  lastUpOutput = '';
  private close: (() => void) | undefined;

  async up(args: string[]): Promise<void> {
    // --demo waits (bounded) until seed 004 answers.
    const res = await keel(['up', '--run-dir', this.runDir, ...args], {}, undefined, 180_000);
    if (res.exitCode !== 0) throw new Error(`keel up failed: ${res.stderr}\n${res.stdout}`);
    this.lastUpOutput = res.stdout;
    this.state = readState(this.runDir) as SandboxState;
    const conn = sandboxEtcdConnection(this.state);
    const client = createEtcdClient(conn);
    this.close = () => client.close();
    this.objects = new ObjectStore(new KvStore(client, conn.endpoints), '/registry');
  }

  async down(): Promise<void> {
    this.close?.();
    await keel(['down', '--run-dir', this.runDir]);
    rmSync(this.runDir, { recursive: true, force: true });
  }

  keel(args: string[]) {
    return keel(args, { KEEL_RUN_DIR: this.runDir });
  }

  /** Runs a command in a node (`node-1`, `client`) or pod namespace through `keel exec`. */
  async keelExec(target: { node: string } | { pod: string }, cmd: string[]): Promise<string> {
    const args = 'node' in target ? ['exec', '--node', target.node, '--', ...cmd] : ['exec', target.pod, '--', ...cmd];
    const res = await execa('node', [KEEL_BIN, ...args], { env: { KEEL_RUN_DIR: this.runDir }, reject: false, timeout: 20_000 });
    return String(res.stdout).trim();
  }

  /** The same as keelExec without starting a keel process each time, for request loops. */
  async exec(target: { node: string } | { pod: string }, cmd: string[]): Promise<string> {
    let netns: string;
    let env: Record<string, string> = {};
    if ('node' in target) {
      netns = findNode(this.state, target.node)!.netns;
    } else {
      const rec = readPodRecord(this.runDir, 'default', target.pod);
      if (!rec) throw new Error(`pod ${target.pod} is not running`);
      netns = rec.netns;
      env = rec.env ?? {};
    }
    const res = await execa('ip', ['netns', 'exec', netns, ...cmd], { env, reject: false, timeout: 20_000 });
    return String(res.stdout).trim();
  }

  async pods(): Promise<Pod[]> {
    return (await this.objects.list('Pod')).items.map((i) => i.object);
  }

  async service(name: string, namespace = 'default'): Promise<Service | undefined> {
    return (await this.objects.get('Service', namespace, name))?.object;
  }

  async endpointIps(name: string): Promise<string[]> {
    const e: Endpoints | undefined = (await this.objects.get('Endpoints', 'default', name))?.object;
    return (e?.subsets ?? []).flatMap((s) => s.addresses.map((a) => a.ip)).sort();
  }

  async readyPods(prefix: string, count: number): Promise<Pod[]> {
    return until(`${count} ready ${prefix} pods`, async () => {
      const pods = (await this.pods()).filter((p) => p.metadata.name.startsWith(prefix) && isPodReady(p));
      return pods.length === count ? pods : undefined;
    });
  }
}

/** Polls until `fn` gives a value; the deadline only bounds a hung test, it is not an assertion on speed. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
