import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { stopChild } from '../../src/runtime/stop-child.js';
import { freePort } from '../../src/store/etcd-server.js';
import { KEEL_BIN } from '../support/keel-cli.js';

/*
 * The DNS lab. Address plan:
 *   kd<run>n  "node": veth kd<run>a 10.244.1.1/24 + 172.30.9.1/24; keel dns on 10.244.1.1:53,
 *             a stub upstream on 127.0.0.1:5300 answering every A question with 198.51.100.7
 *   kd<run>p  "pod":  veth kd<run>b 10.244.1.10/24 + 172.30.9.2/24 (an address outside --cluster-cidr),
 *             /etc/netns/kd<run>p/resolv.conf from renderResolvConf
 *   etcd: its own, on 127.0.0.1 for the test and a Unix socket for keel inside the node namespace.
 * With { ipv6: true } the same link also carries ULA addresses (no DAD wait): node fd00:10:244:1::1/64
 * + fd00:172:30:9::1/64, pod fd00:10:244:1::10/64 + fd00:172:30:9::2/64 (outside the IPv6 pod range),
 * and startStubUpstream('::1') runs a second stub on [::1]:5300 that also answers AAAA with 2001:db8::7.
 */
export class DnsLab {
  readonly run = randomBytes(3).toString('hex');
  readonly node = `kd${this.run}n`;
  readonly pod = `kd${this.run}p`;
  readonly dir = mkdtempSync(join(tmpdir(), `kd${this.run}-`));
  readonly resolvDir = `/etc/netns/${this.pod}`;
  etcdEndpoint = '';
  private readonly children: ChildProcess[] = [];

  constructor(private readonly options: { ipv6?: boolean } = {}) {}

  get etcdSocket(): string {
    return `unix://${join(this.dir, 'etcd.sock:0')}`;
  }

  async up(): Promise<void> {
    await this.startEtcd();
    for (const ns of [this.node, this.pod]) {
      await execa('ip', ['netns', 'add', ns]);
      await this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    }
    const [a, b] = [`kd${this.run}a`, `kd${this.run}b`];
    await execa('ip', ['link', 'add', a, 'netns', this.node, 'type', 'veth', 'peer', 'name', b, 'netns', this.pod]);
    for (const [ns, dev, addrs] of [
      [this.node, a, ['10.244.1.1/24', '172.30.9.1/24']],
      [this.pod, b, ['10.244.1.10/24', '172.30.9.2/24']],
    ] as const) {
      for (const addr of addrs) await this.exec(ns, 'ip', ['addr', 'add', addr, 'dev', dev]);
      await this.exec(ns, 'ip', ['link', 'set', dev, 'up']);
    }
    if (!this.options.ipv6) return;
    for (const [ns, dev, addrs] of [
      [this.node, a, ['fd00:10:244:1::1/64', 'fd00:172:30:9::1/64']],
      [this.pod, b, ['fd00:10:244:1::10/64', 'fd00:172:30:9::2/64']],
    ] as const) {
      for (const addr of addrs) await this.exec(ns, 'ip', ['-6', 'addr', 'add', addr, 'dev', dev, 'nodad']);
    }
  }

  writeResolvConf(text: string): void {
    mkdirSync(this.resolvDir, { recursive: true });
    writeFileSync(join(this.resolvDir, 'resolv.conf'), text);
  }

  exec(ns: string, cmd: string, args: string[]) {
    return execa('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 20_000 });
  }

  /** `keel dns` (the built bin/keel.js) in the node namespace, reading `prefix` from the lab's etcd. */
  startKeelDns(opts: {
    prefix: string;
    upstream: string;
    listen?: string;
    clusterCidr?: string;
    serviceRange?: string;
    extra?: string[];
  }): ChildProcess {
    if (!existsSync(KEEL_BIN.replace(/bin\/keel\.js$/, 'dist/src/cli/main.js')))
      throw new Error('build keel first (npm run build): the lab runs bin/keel.js');
    const args = [
      KEEL_BIN,
      'dns',
      '--dns-listen',
      opts.listen ?? '10.244.1.1:53',
      '--etcd-endpoints',
      this.etcdSocket,
      '--etcd-prefix',
      opts.prefix,
      '--upstream',
      opts.upstream,
      '--cluster-cidr',
      opts.clusterCidr ?? '10.244.0.0/16',
      '--service-cluster-ip-range',
      opts.serviceRange ?? '10.96.0.0/12',
      ...(opts.extra ?? []),
    ];
    return this.spawnIn(this.node, 'node', args, 'keel-dns.log');
  }

  /** A long-running process inside a namespace; killed by PID in down(). */
  spawnIn(ns: string, cmd: string, args: string[], log: string): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', () => writeFileSync(join(this.dir, log), out));
    this.children.push(child);
    return child;
  }

  /**
   * A stub resolver on <host>:5300: answers every A question with 198.51.100.7, and on ::1 also every
   * AAAA question with 2001:db8::7 (no dependencies, raw wire format).
   */
  startStubUpstream(host = '127.0.0.1'): void {
    const v6 = host.includes(':');
    const script = `
      const s = require('node:dgram').createSocket('${v6 ? 'udp6' : 'udp4'}');
      const answers = {
        1: [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7],
        ${v6 ? '28: [0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],' : ''}
      };
      s.on('message', (q, r) => {
        let o = 12; while (q[o] !== 0) o += q[o] + 1; o += 5;
        const a = answers[q.readUInt16BE(o - 4)];
        const h = Buffer.from(q.subarray(0, o)); h[2] |= 0x80; h[3] = 0x80; h.writeUInt16BE(a ? 1 : 0, 6); h.writeUInt16BE(0, 8); h.writeUInt16BE(0, 10);
        s.send(a ? Buffer.concat([h, Buffer.from(a)]) : h, r.port, r.address);
      });
      s.bind(5300, '${host}');`;
    this.spawnIn(this.node, 'node', ['-e', script], v6 ? 'stub6.log' : 'stub.log');
  }

  async down(): Promise<void> {
    for (const child of this.children) {
      if (child.pid) await stopChild(child);
    }
    for (const ns of [this.node, this.pod]) await execa('ip', ['netns', 'del', ns], { reject: false });
    rmSync(this.resolvDir, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startEtcd(): Promise<void> {
    const [client, peer] = [await freePort(), await freePort()];
    this.etcdEndpoint = `http://127.0.0.1:${client}`;
    const child = spawn(
      'etcd',
      [
        '--name',
        'kd',
        '--data-dir',
        join(this.dir, 'data'),
        // Relative unix:// URL: etcd creates etcd.sock:0 in its working directory.
        '--listen-client-urls',
        `${this.etcdEndpoint},unix://etcd.sock:0`,
        '--advertise-client-urls',
        this.etcdEndpoint,
        '--listen-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-cluster',
        `kd=http://127.0.0.1:${peer}`,
        '--log-level',
        'error',
      ],
      { cwd: this.dir, stdio: 'ignore' },
    );
    this.children.push(child);
    for (let i = 0; i < 100; i++) {
      const res = await execa('etcdctl', ['--endpoints', this.etcdEndpoint, 'endpoint', 'health'], {
        reject: false,
        env: { ETCDCTL_API: '3' },
      });
      if (res.exitCode === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('etcd did not become healthy');
  }
}
