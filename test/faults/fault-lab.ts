/**
 * One node namespace running a real `keel agent` (iptables mode, no overlay)
 * against a real etcd reached through its Unix socket, as in
 * test/e2e/agent.test.ts. Fault scenarios build on it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { onTestFailed } from 'vitest';
import { KEEL_BIN } from '../support/keel-cli.js';

const spawnIn = (ns: string, argv: string[], env: Record<string, string>) =>
  execa('ip', ['netns', 'exec', ns, ...argv], { env: { ...env, KEEL_BACKEND: 'none' }, reject: false });
type AgentChild = ReturnType<typeof spawnIn>;

/** Log lines a failure report shows. */
const LOG_TAIL = 300;

export interface AgentProcess {
  child: AgentChild;
  /** stderr so far (structured log lines). */
  log(): string;
}

export class FaultLab {
  readonly ns: string;
  readonly nodeIp: string;
  readonly dir = mkdtempSync(join(tmpdir(), 'keel-faults-'));
  agent: AgentProcess | undefined;

  /** `nsPrefix` keeps one scenario's namespaces apart from another's (the node is `<prefix><rand>-n`). */
  constructor(
    private readonly subnet: number,
    nsPrefix = 'kf',
  ) {
    this.ns = `${nsPrefix}${randomBytes(3).toString('hex')}-n`;
    this.nodeIp = `172.30.${subnet}.1`;
  }

  run(cmd: string[]) {
    return execa('ip', ['netns', 'exec', this.ns, ...cmd], { reject: false });
  }

  async setUp(): Promise<void> {
    await execa('ip', ['netns', 'add', this.ns]);
    for (const cmd of [
      ['link', 'set', 'lo', 'up'],
      ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'],
      ['addr', 'add', `${this.nodeIp}/24`, 'dev', 'eth0'],
      ['link', 'set', 'eth0', 'up'],
      ['link', 'set', 'eth1', 'up'],
      ['route', 'add', 'default', 'via', `172.30.${this.subnet}.2`, 'dev', 'eth0'],
    ])
      await execa('ip', ['-n', this.ns, ...cmd]);
  }

  /** Starts `keel agent` in the node; `env` adds KEEL_* settings (etcd endpoints, prefix, TLS files). */
  startAgent(env: Record<string, string>, extraArgs: string[] = []): AgentProcess {
    let stderr = '';
    const child = spawnIn(
      this.ns,
      [
        'node',
        KEEL_BIN,
        'agent',
        '--proxy-mode',
        'iptables',
        '--cluster-cidr',
        '10.244.0.0/16',
        '--node-name',
        'node-f',
        '--metrics-bind-address',
        '127.0.0.1:10249',
        '--dns-listen',
        `${this.nodeIp}:53`,
        '--upstream',
        '127.0.0.1:5',
        '--iptables-sync-period',
        '2s',
        ...extraArgs,
      ],
      env,
    );
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const agent = { child, log: () => stderr };
    this.agent = agent;
    // A fault that goes wrong must be diagnosable from the run's output alone.
    onTestFailed(async () => console.log(await this.failureReport(agent)));
    return agent;
  }

  /**
   * What a failed scenario prints: the agent's log (tail), what its
   * informers report (revision, connection, relists, reconnects per
   * resource) and its sync state from /metrics, and its TCP connections.
   */
  async failureReport(agent: AgentProcess): Promise<string> {
    const metrics = agent.child.exitCode === null ? (await this.http('/metrics')).body : '(agent exited)';
    const state = metrics
      .split('\n')
      .filter((l) => /^keel_(watch_(?!delivery)|sync_proxy_rules_(last|total)|iptables_restore_failures)/.test(l));
    const conns = String((await this.run(['ss', '-Htnp'])).stdout);
    const log = agent.log().split('\n');
    return [
      `[faults] agent in ${this.ns}: exit ${agent.child.exitCode ?? 'none (running)'}`,
      `--- informer and sync state (/metrics)`,
      ...state,
      `--- TCP connections in ${this.ns}`,
      conns.trim(),
      `--- agent log (last ${Math.min(log.length, LOG_TAIL)} of ${log.length} lines)`,
      ...log.slice(-LOG_TAIL),
    ].join('\n');
  }

  async stopAgent(): Promise<void> {
    this.agent?.child.kill('SIGKILL');
    await this.agent?.child;
    this.agent = undefined;
  }

  async http(path: string): Promise<{ code: string; body: string }> {
    const res = await this.run(['curl', '-s', '-m', '5', '-w', '\n%{http_code}', `http://127.0.0.1:10249${path}`]);
    const lines = String(res.stdout).split('\n');
    return { code: lines.pop() ?? '', body: lines.join('\n') };
  }

  /** Sum of a metric's samples (all label sets). */
  async metric(name: string): Promise<number> {
    const { body } = await this.http('/metrics');
    let sum = 0;
    for (const line of body.split('\n')) {
      const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (m && m[1] === name) sum += Number(m[3]);
    }
    return sum;
  }

  async natRules(): Promise<string> {
    return String((await this.run(['iptables-save', '-t', 'nat'])).stdout);
  }

  async tearDown(): Promise<void> {
    await this.stopAgent();
    await execa('ip', ['netns', 'del', this.ns], { reject: false });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - start;
}

/**
 * Where a run writes its figures: an ignored folder, so tests never rewrite a
 * committed file. test/faults/results.md is the committed record; refresh it
 * on purpose with `cp test/faults/results/results.md test/faults/results.md`
 * after a full run, and commit it with the figures' context.
 */
const RESULTS = new URL('./results/results.md', import.meta.url).pathname;

/** Replaces this scenario's section of test/faults/results/results.md (sections kept in name order). */
export function recordResult(scenario: string, lines: string[]): void {
  mkdirSync(dirname(RESULTS), { recursive: true });
  const text = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
  const sections = new Map<string, string>();
  for (const part of text.split(/^## /m).slice(1)) {
    const title = part.split('\n', 1)[0] ?? '';
    sections.set(title, part.slice(title.length + 1).trim());
  }
  sections.set(scenario, lines.map((l) => `- ${l}`).join('\n'));
  const body = [...sections]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([t, s]) => `## ${t}\n\n${s}\n`)
    .join('\n');
  writeFileSync(
    RESULTS,
    `# keel fault-injection results\n\nWritten by \`npx vitest run test/faults\` into test/faults/results/ (ignored); figures are printed, never asserted as timings.\n\n${body}`,
  );
  console.log(`[faults] ${scenario}\n  ${lines.join('\n  ')}`);
}
