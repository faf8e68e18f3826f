/**
 * The etcd the fleet bench measures: seed 003's three-member cluster (the
 * sandbox's own member command line, src/sandbox/etcd-member.ts), plaintext,
 * and any number of `etcd grpc-proxy` processes in front of it, all inside
 * one network namespace (kfl<rand>, or KEEL_BENCH_NS_TAG<rand>) on its loopback: members on
 * 127.0.0.11–13 (clients :2379, peers :2380), proxies on 127.0.0.21… :23790.
 * The simulated nodes run in the same namespace; the bench process itself
 * writes through member 1's Unix socket. stop() removes every process,
 * file and the namespace, also after a failure.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { etcdMemberArgs } from '../../src/sandbox/etcd-member.js';
import { isRunning, startDetached, stopProcess, type ProcessRef } from '../../src/sandbox/processes.js';
import { sleep } from '../../src/runtime/backoff.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { nsTag } from '../figures.js';
import { KvStore } from '../../src/store/kv-store.js';

export interface FleetMember {
  name: string;
  ip: string;
  dataDir: string;
  process?: ProcessRef | undefined;
}

/** CPU seconds (user + system) and resident memory of one process, from /proc. */
export interface ProcUsage {
  cpuS: number;
  rssMb: number;
  /** Peak RSS since the last resetPeak() (VmHWM). */
  hwmMb: number;
}

export class FleetCluster {
  readonly netns = `${nsTag('kfl')}${randomBytes(3).toString('hex')}`;
  /**
   * On tmpfs: the members' fsyncs on this shared VM's disk would measure the
   * disk under everyone's load, not the watch path; a production etcd has a
   * dedicated SSD (fsync ≈ 1 ms), which tmpfs is closer to.
   */
  readonly dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'keel-fleet-'));
  readonly members: FleetMember[] = [1, 2, 3].map((i) => ({ name: `m${i}`, ip: `127.0.0.1${i}`, dataDir: join(this.dir, `m${i}`) }));
  readonly proxies: { url: string; process: ProcessRef }[] = [];
  private nsMade = false;

  /** What a node configured for direct access lists in --etcd-endpoints. */
  get memberUrls(): string[] {
    return this.members.map((m) => `http://${m.ip}:2379`);
  }

  async start(): Promise<void> {
    await execa('ip', ['netns', 'add', this.netns]);
    this.nsMade = true;
    await execa('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    for (const m of this.members) this.launch(m, 'new');
    await this.waitHealthy(this.members);
  }

  /** A store over a member's Unix socket: the bench's own writes and compactions. */
  writer(m: FleetMember = this.members[0] as FleetMember): KvStore {
    const endpoint = `unix://${join(this.dir, `${m.name}.sock:0`)}`;
    return new KvStore(createEtcdClient({ endpoints: [endpoint], callTimeoutMs: 10_000 }), [endpoint]);
  }

  /** (Re)starts a member: `existing` rejoins with its data and catches up from the leader. */
  launch(m: FleetMember, state: 'new' | 'existing'): void {
    rmSync(join(this.dir, `${m.name}.sock:0`), { force: true });
    m.process = startDetached({
      netns: this.netns,
      cwd: this.dir,
      logFile: join(this.dir, 'logs', `${m.name}.log`),
      argv: etcdMemberArgs(
        { name: m.name, ip: m.ip, dataDir: m.dataDir, socket: `${m.name}.sock:0` },
        { members: this.members, token: this.netns, socketTls: false, logLevel: 'warn' },
        state,
      ),
    });
  }

  /** SIGKILL, as a crashed machine: no goodbye to the watchers. */
  async kill(m: FleetMember): Promise<void> {
    const ref = m.process;
    m.process = undefined;
    if (!ref || !isRunning(ref)) return;
    process.kill(ref.pid, 'SIGKILL');
    while (isRunning(ref)) await sleep(20);
  }

  async startProxy(): Promise<string> {
    const i = this.proxies.length + 1;
    const addr = `127.0.0.2${i}:23790`;
    const ref = this.spawnProxy(i, addr);
    const url = `http://${addr}`;
    this.proxies.push({ url, process: ref });
    await this.waitAnswers(url);
    return url;
  }

  /** SIGKILL proxy `i`, as a crashed proxy. */
  async killProxy(i: number): Promise<void> {
    const p = this.proxies[i];
    if (!p || !isRunning(p.process)) return;
    process.kill(p.process.pid, 'SIGKILL');
    while (isRunning(p.process)) await sleep(20);
  }

  /** Restarts proxy `i` on its address and data dir, as a restarted proxy. */
  async restartProxy(i: number): Promise<void> {
    const p = this.proxies[i];
    if (!p) return;
    p.process = this.spawnProxy(i + 1, p.url.slice('http://'.length));
    await this.waitAnswers(p.url);
  }

  /** Proxy number `n` (1-based: its data dir and log file) listening on `addr`. */
  private spawnProxy(n: number, addr: string): ReturnType<typeof startDetached> {
    const dataDir = join(this.dir, `proxy${n}`);
    mkdirSync(dataDir, { recursive: true });
    return startDetached({
      netns: this.netns,
      cwd: dataDir,
      logFile: join(this.dir, 'logs', `proxy${n}.log`),
      argv: [
        'etcd',
        'grpc-proxy',
        'start',
        '--endpoints',
        this.members.map((m) => `${m.ip}:2379`).join(','),
        '--listen-addr',
        addr,
        '--data-dir',
        dataDir,
      ],
    });
  }

  async stopProxies(): Promise<void> {
    for (const p of this.proxies.splice(0)) await stopProcess(p.process, 2_000);
  }

  async waitHealthy(members: readonly FleetMember[], timeoutMs = 30_000): Promise<void> {
    for (const m of members) await this.waitAnswers(`http://${m.ip}:2379`, timeoutMs);
  }

  /** Resource use of the members' and proxies' processes, by pid. */
  usage(ref: ProcessRef | undefined): ProcUsage {
    if (!ref || !isRunning(ref)) return { cpuS: 0, rssMb: 0, hwmMb: 0 };
    const stat = readFileSync(`/proc/${ref.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const status = readFileSync(`/proc/${ref.pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { cpuS: ticks / 100, rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  }

  /** Starts a new peak-RSS window (writing 5 to clear_refs resets VmHWM). */
  resetPeak(ref: ProcessRef | undefined): void {
    if (!ref || !isRunning(ref)) return;
    try {
      writeFileSync(`/proc/${ref.pid}/clear_refs`, '5');
    } catch {
      // A kernel without the reset keeps the lifetime peak: still an upper bound.
    }
  }

  async stop(): Promise<void> {
    await this.stopProxies();
    for (const m of this.members) {
      await stopProcess(m.process, 3_000);
      m.process = undefined;
    }
    if (this.nsMade) await execa('ip', ['netns', 'del', this.netns], { reject: false });
    this.nsMade = false;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Whether the etcd (or proxy) at `url` answers a read from inside the namespace within 2 s; the reason when not. */
  async answers(url: string): Promise<string | true> {
    const res = await execa(
      'ip',
      ['netns', 'exec', this.netns, 'etcdctl', '--endpoints', url, '--command-timeout', '2s', 'get', '/fleet-ping'],
      {
        reject: false,
        env: { ETCDCTL_API: '3' },
      },
    );
    return res.exitCode === 0 || String(res.stderr).trim();
  }

  private async waitAnswers(url: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.answers(url);
      if (answer === true) return;
      if (Date.now() > deadline)
        throw new Error(`etcd at ${url} did not answer within ${timeoutMs} ms: ${answer} (logs in ${this.dir}/logs)`);
      await sleep(200);
    }
  }
}
