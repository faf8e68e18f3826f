/**
 * A three-member etcd cluster with TLS (peer and client, certificates and
 * command lines as `keel up --etcd-tls` makes them), each member in its own network namespace on a bridge
 * (kf<rand>-b, 172.30.80.0/24). Members also listen on a plaintext Unix
 * socket so the test process can write without an address on the host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { etcdMemberArgs } from '../../src/sandbox/etcd-member.js';
import { etcdPkiFiles, makeEtcdPki } from '../../src/sandbox/etcd-pki.js';
import type { KvStore } from '../../src/store/kv-store.js';
import { connectStore } from '../support/etcd.js';

export interface Member {
  name: string;
  ns: string;
  ip: string;
  dataDir: string;
  child?: ChildProcess | undefined;
  /** The tail of its stderr, for failure messages. */
  log: string;
}

const SUBNET = '172.30.80';

export class EtcdTlsCluster {
  readonly tag = `kf${randomBytes(3).toString('hex')}`;
  readonly bridgeNs = `${this.tag}-b`;
  readonly dir = mkdtempSync(join(tmpdir(), 'keel-etcd-ha-'));
  readonly members: Member[] = [1, 2, 3].map((i) => ({
    name: `m${i}`,
    ns: `${this.tag}-e${i}`,
    ip: `${SUBNET}.1${i}`,
    dataDir: join(this.dir, `m${i}`),
    log: '',
  }));
  readonly pki = etcdPkiFiles(join(this.dir, 'pki'));
  readonly ca = this.pki.ca;
  readonly clientCert = this.pki.clientCert;
  readonly clientKey = this.pki.clientKey;
  private readonly namespaces: string[] = [];

  get clientUrls(): string {
    return this.members.map((m) => `https://${m.ip}:2379`).join(',');
  }

  socketOf(m: Member): string {
    return `unix://${m.dataDir}/etcd.sock:0`;
  }

  async start(): Promise<void> {
    await makeEtcdPki(
      join(this.dir, 'pki'),
      this.members.map((m) => m.ip),
      1,
    );
    await this.addNs(this.bridgeNs);
    await execa('ip', ['-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await execa('ip', ['-n', this.bridgeNs, 'link', 'set', 'br0', 'up']);
    for (const m of this.members) {
      await this.addNs(m.ns);
      await this.plug(m.ns, m.ip, m.name);
      mkdirSync(m.dataDir, { recursive: true });
    }
    for (const m of this.members) this.launch(m, 'new');
    await Promise.all(this.members.map((m) => this.waitHealthy(m)));
  }

  /** Connects a namespace to the members' bridge with `ip`/24 on its eth-side `eth9`. */
  async plug(ns: string, ip: string, label: string): Promise<void> {
    const outer = `${this.tag}${label}`.slice(0, 15);
    await execa('ip', ['-n', this.bridgeNs, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth9', 'netns', ns]);
    await execa('ip', ['-n', this.bridgeNs, 'link', 'set', outer, 'master', 'br0', 'up']);
    await execa('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth9']);
    await execa('ip', ['-n', ns, 'link', 'set', 'eth9', 'up']);
    await execa('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  /** (Re)starts a member; `existing` after a kill keeps its data and rejoins. */
  launch(m: Member, state: 'new' | 'existing'): void {
    const args = [
      'netns',
      'exec',
      m.ns,
      ...etcdMemberArgs(
        { name: m.name, ip: m.ip, dataDir: m.dataDir, socket: 'etcd.sock:0' },
        { members: this.members, token: this.tag, pki: this.pki, socketTls: false, logLevel: 'error' },
        state,
      ),
    ];
    // A SIGKILLed member leaves its socket file behind; etcd will not bind over it.
    rmSync(join(m.dataDir, 'etcd.sock:0'), { force: true });
    // `ip netns exec` execs etcd in place, so the child's pid is etcd's.
    const child = spawn('ip', args, { cwd: m.dataDir, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => {
      m.log = (m.log + d.toString()).slice(-2_000);
    });
    m.child = child;
  }

  kill(m: Member): Promise<void> {
    const child = m.child;
    m.child = undefined;
    if (!child || child.exitCode !== null) return Promise.resolve();
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    return gone;
  }

  async waitHealthy(m: Member, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await execa('etcdctl', ['--endpoints', this.socketOf(m), '--command-timeout', '2s', 'endpoint', 'health'], {
        reject: false,
        env: { ETCDCTL_API: '3' },
      });
      if (res.exitCode === 0) return;
      if (Date.now() > deadline) throw new Error(`etcd member ${m.name} not healthy: ${String(res.stderr).trim()}\n${m.log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** A store over one member's Unix socket (plaintext, for the test's own writes). */
  storeVia(m: Member): KvStore {
    return connectStore(this.socketOf(m));
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
    for (const ns of this.namespaces) await execa('ip', ['netns', 'del', ns], { reject: false });
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async addNs(ns: string): Promise<void> {
    await execa('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
  }
}
