import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parseIp } from '../../src/api/ip.js';
import { sleep } from '../../src/runtime/backoff.js';
import { stopChild } from '../../src/runtime/stop-child.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { KvStore } from '../../src/store/kv-store.js';

/*
 * Address plan (every address lives only inside this run's namespaces; X is random per run):
 *   ko<run>sw   the switch: bridge br0, one veth port per node and one for the "internet"
 *   ko<run>n1..n3  nodes (three unless the lab is built with another count), eth0 172.30.X.11..13/24 and fd00:172:30:X::11..13/64, default routes via .100 / ::100
 *   ko<run>in   "internet": eth0 172.30.X.100/24 and fd00:172:30:X::100/64, plus 172.29.X.1/32 and
 *               fd00:172:29:X::1/128 on lo, no route to the pod Networks
 * (X in the IPv6 addresses is the same number, written in hex.)
 *   ko<run>p<k>  pods, made by the real CNI plugins (bridge cni0 + host-local) from `keel network cni-config`
 * etcd listens only on a Unix socket in the run directory; every namespace reaches it there.
 * Pod network 10.244.0.0/16 (each lab has its own etcd, so runs never share leases).
 */
const ROOT = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'node_modules')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
const KEEL_BIN = join(ROOT, 'bin/keel.js');
const CNI_PATH = '/usr/lib/cni';

export interface Pod {
  ns: string;
  /** The pod's first address (IPv4 on an IPv4 or dual-stack network) and its IPv6 one, if it has one. */
  ip: string;
  ip6?: string;
  node: number;
}

export class OverlayLab {
  readonly run = randomBytes(3).toString('hex');
  readonly x = randomInt(1, 255);
  /** The run directory (etcd socket, subnet.env files, host-local state); made by up(). */
  dir = '';
  readonly sw: string;
  readonly inet: string;
  readonly nodes: string[];
  readonly prefix: string;
  /** Namespace names start with `tag` (then the run's random suffix), so concurrent users of the lab can tell theirs apart. */
  constructor(
    private readonly tag = 'ko',
    nodeCount = 3,
  ) {
    this.sw = `${tag}${this.run}sw`;
    this.inet = `${tag}${this.run}in`;
    this.nodes = Array.from({ length: nodeCount }, (_, k) => `${tag}${this.run}n${k + 1}`);
    this.prefix = `/${tag}-${this.run}/network`;
  }
  readonly pods: Pod[] = [];
  private etcd: ChildProcess | undefined;
  private readonly agents = new Map<number, ChildProcess>();
  /** Each agent's stderr so far, for failure messages. */
  readonly logs = new Map<number, string>();
  private readonly helpers: ChildProcess[] = [];
  /** Pod namespaces made so far, also those whose CNI ADD failed, so down() removes every one. */
  private readonly podNamespaces: string[] = [];
  private kvStore: KvStore | undefined;

  get etcdEndpoint(): string {
    return `unix://${join(this.dir, 'etcd.sock:0')}`;
  }
  nodeIp(i: number): string {
    return `172.30.${this.x}.${10 + i}`;
  }
  nodeIpv6(i: number): string {
    return `fd00:172:30:${this.x.toString(16)}::${10 + i}`;
  }
  get inetIp(): string {
    return `172.30.${this.x}.100`;
  }
  get inetIpv6(): string {
    return `fd00:172:30:${this.x.toString(16)}::100`;
  }
  get outsideIp(): string {
    return `172.29.${this.x}.1`;
  }
  get outsideIpv6(): string {
    return `fd00:172:29:${this.x.toString(16)}::1`;
  }
  subnetFile(i: number): string {
    return join(this.dir, `n${i}`, 'subnet.env');
  }

  kv(): KvStore {
    this.kvStore ??= new KvStore(createEtcdClient({ endpoints: [this.etcdEndpoint] }), [this.etcdEndpoint]);
    return this.kvStore;
  }

  async up(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'keel-ko-'));
    await sh('ip', ['netns', 'add', this.sw]);
    await ns(this.sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await ns(this.sw, 'ip', ['link', 'set', 'br0', 'up']);
    const attach = async (name: string, port: string, addr: string, addr6: string): Promise<void> => {
      await sh('ip', ['netns', 'add', name]);
      await ns(this.sw, 'ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
      await ns(this.sw, 'ip', ['link', 'set', port, 'master', 'br0', 'up']);
      await ns(name, 'ip', ['addr', 'add', addr, 'dev', 'eth0']);
      await ns(name, 'ip', ['addr', 'add', addr6, 'dev', 'eth0', 'nodad']);
      await ns(name, 'ip', ['link', 'set', 'eth0', 'up']);
      await ns(name, 'ip', ['link', 'set', 'lo', 'up']);
    };
    const inet = async (): Promise<void> => {
      await attach(this.inet, 'pin', `${this.inetIp}/24`, `${this.inetIpv6}/64`);
      await ns(this.inet, 'ip', ['addr', 'add', `${this.outsideIp}/32`, 'dev', 'lo']);
      await ns(this.inet, 'ip', ['addr', 'add', `${this.outsideIpv6}/128`, 'dev', 'lo']);
    };
    const node = async (name: string, k: number): Promise<void> => {
      await attach(name, `p${k + 1}`, `${this.nodeIp(k + 1)}/24`, `${this.nodeIpv6(k + 1)}/64`);
      await ns(name, 'ip', ['route', 'add', 'default', 'via', this.inetIp]);
      await ns(name, 'ip', ['-6', 'route', 'add', 'default', 'via', this.inetIpv6]);
      await ns(name, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      mkdirSync(join(this.dir, `n${k + 1}`), { recursive: true });
    };
    // Each namespace is built on its own (only the switch is shared, and it exists already): all at once.
    await Promise.all([inet(), ...this.nodes.map((name, k) => node(name, k)), this.startEtcd()]);
  }

  private async startEtcd(): Promise<void> {
    const peer = 'unix://peer.sock:0';
    const child = spawn(
      'etcd',
      [
        '--name',
        'ko',
        '--data-dir',
        join(this.dir, 'etcd'),
        '--listen-client-urls',
        'unix://etcd.sock:0',
        '--advertise-client-urls',
        'unix://etcd.sock:0',
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `ko=${peer}`,
        '--log-level',
        'error',
        '--logger',
        'zap',
      ],
      { cwd: this.dir, stdio: 'ignore' },
    );
    this.etcd = child;
    // Generous: on a loaded 2-CPU machine etcd can take many seconds to elect itself.
    for (let i = 0; i < 300; i++) {
      try {
        await this.kv().get('/probe');
        return;
      } catch {
        await sleep(200);
      }
    }
    throw new Error('lab etcd did not come up');
  }

  async keel(args: string[], netns?: string, etcd = true): Promise<string> {
    const argv = [KEEL_BIN, ...args, ...(etcd ? ['--etcd-endpoints', this.etcdEndpoint, '--subnet-prefix', this.prefix] : [])];
    const res = netns ? await execa('ip', ['netns', 'exec', netns, 'node', ...argv]) : await execa('node', argv);
    return String(res.stdout);
  }

  /** `network` is one pod network per family, comma-separated (IPv6 alone is IPv6-only). */
  async init(backend: string, network = '10.244.0.0/16'): Promise<void> {
    await this.keel(['network', 'init', '--network', network, '--backend', backend]);
  }

  /** Starts node i's overlay (`keel network run`, or another keel command that runs it) and waits for its subnet.env. */
  /** startAgent for several nodes at once (each leases on its own; etcd settles who gets which subnet); their subnet.env files in order. */
  async startAgents(nodes: number[], extra: string[] = []): Promise<string[]> {
    return Promise.all(nodes.map((i) => this.startAgent(i, extra)));
  }

  async startAgent(i: number, extra: string[] = [], command = ['network', 'run']): Promise<string> {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.nodes[i - 1] as string,
        'node',
        KEEL_BIN,
        ...command,
        '--etcd-endpoints',
        this.etcdEndpoint,
        '--subnet-prefix',
        this.prefix,
        '--subnet-file',
        this.subnetFile(i),
        '--metrics-bind-address',
        '127.0.0.1:10249',
        ...extra,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KEEL_LOG_LEVEL: 'info' } },
    );
    this.agents.set(i, child);
    let log = '';
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      this.logs.set(i, log);
    });
    for (let t = 0; t < 600; t++) {
      if (/msg="node subnet ready"/.test(log)) break;
      if (child.exitCode !== null) throw new Error(`agent ${i} exited: ${log}`);
      await sleep(100);
    }
    if (!/node subnet ready/.test(log)) throw new Error(`agent ${i} not ready: ${log}`);
    return readFileSync(this.subnetFile(i), 'utf8');
  }

  /** SIGTERM, or SIGKILL for a node that dies without a word (its lease must then expire). */
  async stopAgent(i: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.agents.get(i);
    this.agents.delete(i);
    if (child) await stopChild(child, signal);
  }

  /** A pod on node i, made by the CNI plugins from keel's conflist, as a runtime would. */
  async addPod(node: number): Promise<Pod> {
    // Named and recorded before the first await, so pods added at once get distinct names.
    const name = `${this.tag}${this.run}p${this.podNamespaces.length + 1}`;
    this.podNamespaces.push(name);
    await sh('ip', ['netns', 'add', name]);
    const conflist = JSON.parse(
      await this.keel(
        ['network', 'cni-config', '--subnet-file', this.subnetFile(node), '--ipam-data-dir', join(this.dir, `n${node}`, 'ipam')],
        undefined,
        false,
      ),
    ) as { cniVersion: string; name: string; plugins: Array<Record<string, unknown>> };
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: name, CNI_NETNS: `/var/run/netns/${name}`, CNI_PATH, CNI_IFNAME: 'eth0' };
    const nodeNs = this.nodes[node - 1] as string;
    await cni(nodeNs, 'loopback', { ...env, CNI_IFNAME: 'lo' }, { cniVersion: conflist.cniVersion, name: 'lo', type: 'loopback' });
    let prev: unknown;
    for (const plugin of conflist.plugins) {
      prev = await cni(nodeNs, plugin.type as string, env, {
        ...plugin,
        cniVersion: conflist.cniVersion,
        name: conflist.name,
        ...(prev ? { prevResult: prev } : {}),
      });
    }
    const ips = (prev as { ips: Array<{ address: string }> }).ips.map((a) => a.address.split('/')[0] as string);
    const ip6 = ips.find((a) => a.includes(':'));
    const pod = { ns: name, ip: ips[0] ?? '', ...(ip6 ? { ip6 } : {}), node };
    this.pods.push(pod);
    return pod;
  }

  /** One pod on each of these nodes, made at once (each node has its own bridge and host-local store); in order. */
  async addPods(nodes: number[]): Promise<Pod[]> {
    return Promise.all(nodes.map((n) => this.addPod(n)));
  }

  /** A socat server in a namespace answering each TCP connection / UDP datagram with the peer address it saw (TCP6/UDP6: over IPv6). */
  serve(netns: string, proto: Proto, port: number, bind?: string): void {
    const listen = proto.startsWith('TCP') ? `${proto}-LISTEN:${port},reuseaddr,fork` : `${proto}-RECVFROM:${port},fork`;
    const child = spawn(
      'ip',
      ['netns', 'exec', netns, 'socat', `${listen}${bind ? `,bind=${bind}` : ''}`, 'SYSTEM:echo "$SOCAT_PEERADDR"'],
      { stdio: 'ignore' },
    );
    this.helpers.push(child);
  }

  /** What the server saw as our address (an IPv6 one without socat's brackets), or '' when nothing came back. */
  async ask(netns: string, proto: Proto, host: string, port: number): Promise<string> {
    const target = host.includes(':') ? `[${host}]` : host;
    for (let i = 0; i < 20; i++) {
      const res = await execa('ip', ['netns', 'exec', netns, 'socat', '-T2', '-', `${proto}:${target}:${port}`], {
        input: 'ping\n',
        reject: false,
        timeout: 5_000,
      });
      const out = String(res.stdout).trim();
      // socat writes an IPv6 peer bracketed and fully expanded: [fd00:0010:…]; compare it in canonical form.
      const v6 = /^\[(.*)\]$/.exec(out)?.[1];
      if (v6 !== undefined) return parseIp(v6)?.text ?? v6;
      if (out) return out;
      await sleep(250);
    }
    return '';
  }

  /** Node i's agent's /metrics (served on the node namespace's loopback). */
  async metrics(i: number): Promise<string> {
    const js = "fetch('http://127.0.0.1:10249/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))";
    return String((await execa('ip', ['netns', 'exec', this.nodes[i - 1] as string, 'node', '-e', js])).stdout);
  }

  async routes(i: number, family: 4 | 6 = 4): Promise<string> {
    return String((await execa('ip', [`-${family}`, '-n', this.nodes[i - 1] as string, 'route', 'show'])).stdout);
  }

  async down(): Promise<void> {
    for (const i of [...this.agents.keys()]) await this.stopAgent(i).catch(() => undefined);
    for (const h of this.helpers) if (h.exitCode === null) h.kill('SIGKILL');
    this.kvStore?.close();
    if (this.etcd && this.etcd.exitCode === null) {
      const gone = new Promise<void>((r) => this.etcd?.once('exit', () => r()));
      this.etcd.kill('SIGTERM');
      await Promise.race([gone, sleep(5_000)]);
    }
    for (const name of [...new Set([...this.podNamespaces, ...this.pods.map((p) => p.ns)]), ...this.nodes, this.inet, this.sw]) {
      await execa('ip', ['netns', 'del', name], { reject: false });
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

type Proto = 'TCP' | 'UDP' | 'TCP6' | 'UDP6';

async function cni(nodeNs: string, type: string, env: Record<string, string>, conf: unknown): Promise<unknown> {
  const res = await execa('ip', ['netns', 'exec', nodeNs, join(CNI_PATH, type)], { input: JSON.stringify(conf), env, reject: false });
  if (res.exitCode !== 0) throw new Error(`CNI ${type} ADD failed: ${String(res.stdout)} ${String(res.stderr)}`);
  return JSON.parse(String(res.stdout)) as unknown;
}

async function sh(file: string, args: string[]): Promise<void> {
  await execa(file, args);
}

async function ns(name: string, file: string, args: string[]): Promise<void> {
  await execa('ip', ['netns', 'exec', name, file, ...args]);
}

/** Polls until `check` holds; resolves with the elapsed milliseconds (reported, never asserted). */
export async function until(check: () => Promise<boolean>, limitMs = 30_000): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > limitMs) throw new Error(`condition not met within ${limitMs} ms`);
    await sleep(20);
  }
  return Date.now() - start;
}
