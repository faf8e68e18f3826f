import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeelError } from '../api/errors.js';
import { stopChild } from '../runtime/stop-child.js';

export interface EtcdServerOptions {
  /** Data directory; a fresh temporary one (removed on stop) when absent. */
  dataDir?: string;
  /** Client port on 127.0.0.1; a free one when absent. */
  clientPort?: number;
  peerPort?: number;
  name?: string;
  /** Extra flags, e.g. for compaction tests. */
  extraArgs?: string[];
  binary?: string;
  /**
   * Also listen on `<dataDir>/etcd.sock:0`: a socket file reaches etcd
   * from any network namespace, with no address on the host.
   */
  unixSocket?: boolean;
}

/**
 * A real etcd on loopback, the same Debian binary users run. Tests, the
 * benchmarks and the CLI's embedded default all start it through here.
 */
export class EtcdServer {
  private child: ChildProcess | undefined;
  private ownsDataDir = false;
  readonly dataDir: string;
  clientPort = 0;
  peerPort = 0;

  constructor(private readonly options: EtcdServerOptions = {}) {
    this.dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'keel-etcd-'));
    this.ownsDataDir = options.dataDir === undefined;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** `unix:///…/etcd.sock:0`, when started with `unixSocket`. */
  get socketEndpoint(): string {
    return `unix://${this.dataDir}/etcd.sock:0`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    this.clientPort ||= this.options.clientPort ?? (await freePort());
    this.peerPort ||= this.options.peerPort ?? (await freePort());
    const name = this.options.name ?? 'keel';
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const args = [
      '--name',
      name,
      '--data-dir',
      this.dataDir,
      // etcd takes a socket path relative to its working directory, which is the data dir.
      '--listen-client-urls',
      this.options.unixSocket ? `${this.endpoint},unix://etcd.sock:0` : this.endpoint,
      '--advertise-client-urls',
      this.endpoint,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `${name}=${peer}`,
      '--log-level',
      'error',
      '--logger',
      'zap',
      ...(this.options.extraArgs ?? []),
    ];
    // A stop() without keepData removed the directory; a later start() is a fresh, empty etcd.
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    const child = spawn(this.options.binary ?? 'etcd', args, { cwd: this.dataDir, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4_000);
    });
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new KeelError('KEEL_CONFIG', `cannot start etcd: ${err.message}`, { cause: err })));
      child.once('exit', (code) =>
        reject(new KeelError('KEEL_CONFIG', `etcd exited with code ${code}: ${stderr.trim().split('\n').pop() ?? ''}`)),
      );
    });
    exited.catch(() => undefined);
    await Promise.race([waitHealthy(this.endpoint, 20_000), exited]);
  }

  /** Stops the process (SIGTERM, then SIGKILL); `keepData` leaves the data dir for a restart. */
  async stop(keepData = false): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await stopChild(child);
    if (!keepData && this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function waitHealthy(endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new KeelError('KEEL_CONFIG', `etcd at ${endpoint} did not become healthy within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
