import { execa } from 'execa';
import { EtcdServer } from '../../src/store/etcd-server.js';
import type { KvStore } from '../../src/store/kv-store.js';
import { connectStore } from '../support/etcd.js';
import { KEEL_BIN } from '../support/keel-cli.js';
import { link, NetnsLab, sh } from './proxy-iptables-lab.js';
import { Traffic } from './proxy-iptables-traffic.js';

/**
 * The scaffolding of the suites that store objects in a real etcd and call through the rules of a
 * real `keel agent --proxy-mode iptables`: an etcd of the suite's own on a Unix socket (the node
 * namespace has no route to the host's loopback), a NetnsLab, and the agent in the node namespace
 * as node-1 with node IP 172.30.0.1, cluster CIDR 10.244.0.0/16, DNS on 172.30.0.1:53 and its
 * metrics on the namespace's 127.0.0.1:10249. The suite builds its own topology in between.
 */
export class ProxyAgentLab {
  readonly lab: NetnsLab;
  readonly traffic: Traffic;
  readonly etcd = new EtcdServer({ unixSocket: true });
  /** What the agent wrote on stderr so far. */
  stderr = '';
  private store: KvStore | undefined;
  private agent: ReturnType<typeof spawnAgent> | undefined;
  private node = '';

  constructor(prefix: string) {
    this.lab = new NetnsLab(prefix);
    this.traffic = new Traffic(this.lab.run);
  }

  get kv(): KvStore {
    if (!this.store) throw new Error('etcd is not started');
    return this.store;
  }

  async startEtcd(): Promise<KvStore> {
    await this.etcd.start();
    this.store = connectStore(this.etcd.socketEndpoint);
    return this.store;
  }

  /** Starts the agent in namespace `node` (with `env` added to the common settings) and waits until it is ready. */
  async startAgent(node: string, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<void> {
    this.node = node;
    const agent = spawnAgent(node, { KEEL_ETCD_ENDPOINTS: this.etcd.socketEndpoint, ...env });
    this.agent = agent;
    agent.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    await this.until(
      'the agent to be ready',
      async () => (await this.lab.exec(node, 'curl', ['-sf', 'http://127.0.0.1:10249/readyz'])) !== '',
      timeoutMs,
    );
  }

  /** Writes each object under /registry/<path> as JSON, as a writer without kube-apiserver's validation would. */
  async putObjects(objects: Record<string, unknown>): Promise<void> {
    for (const [path, value] of Object.entries(objects)) await this.kv.put(`/registry/${path}`, JSON.stringify(value));
  }

  /**
   * The suites' common topology: the node (172.30.0.1/24 to ext, 10.244.1.1/24 to the pod; it
   * forwards), an external client ext (172.30.0.2/24, `extRoutes` via the node) and pod p1
   * (10.244.1.2, answering "p1" on TCP 8080 and UDP 5353).
   */
  async nodeExtPod(extRoutes: readonly string[]): Promise<{ node: string; ext: string; p1: string }> {
    const ns = { node: await this.lab.netns('node'), ext: await this.lab.netns('ext'), p1: await this.lab.netns('p1') };
    await link(ns.node, ns.ext, this.lab.link('x'), '172.30.0.1/24', '172.30.0.2/24');
    await link(ns.node, ns.p1, this.lab.link('p'), '10.244.1.1/24', '10.244.1.2/24');
    await sh('ip', ['-n', ns.p1, 'route', 'add', 'default', 'via', '10.244.1.1']);
    for (const dst of extRoutes) await sh('ip', ['-n', ns.ext, 'route', 'add', dst, 'via', '172.30.0.1']);
    await this.lab.exec(ns.node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await this.traffic.serve(ns.p1, 'p1', 8080, 5353);
    return ns;
  }

  async metrics(): Promise<string> {
    return this.lab.exec(this.node, 'curl', ['-s', 'http://127.0.0.1:10249/metrics']);
  }

  /** Polls `check` (a throw counts as not yet) until it holds; the timeout's error carries the agent's stderr. */
  async until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; agent stderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async destroy(): Promise<void> {
    this.agent?.kill('SIGKILL');
    await this.agent;
    this.store?.close();
    await this.traffic.stop();
    await this.lab.destroy();
    await this.etcd.stop();
  }
}

function spawnAgent(node: string, env: Record<string, string>) {
  return execa('ip', ['netns', 'exec', node, process.execPath, KEEL_BIN, 'agent', '--proxy-mode', 'iptables', '--node-name', 'node-1'], {
    reject: false,
    env: {
      KEEL_ETCD_PREFIX: '/registry',
      KEEL_BACKEND: 'none',
      KEEL_NODE_IP: '172.30.0.1',
      KEEL_CLUSTER_CIDR: '10.244.0.0/16',
      KEEL_DNS_LISTEN: '172.30.0.1:53',
      KEEL_UPSTREAM: '127.0.0.1:5',
      KEEL_METRICS_BIND_ADDRESS: '127.0.0.1:10249',
      KEEL_HEALTHZ_BIND_ADDRESS: '127.0.0.1:10256',
      ...env,
    },
  });
}
