import { execa } from 'execa';
import { expect } from 'vitest';
import { EtcdServer } from '../../src/store/etcd-server.js';
import { keel, KEEL_BIN, type CliResult } from '../support/keel-cli.js';
import { NetnsLab } from './proxy-iptables-lab.js';

/**
 * What the `keel describe` suites share: one node namespace (`n1`) whose kernel a test programs by
 * hand (no agent runs), and an etcd of the suite's own on a Unix socket, since the node namespace
 * has no route to the host's loopback. `env` points keel at that etcd, plus the suite's own settings.
 */
export class DescribeNodeLab {
  readonly etcd = new EtcdServer({ unixSocket: true });
  readonly lab: NetnsLab;
  readonly env: Record<string, string>;
  ns = '';

  constructor(prefix?: string, env: Record<string, string> = {}) {
    this.lab = new NetnsLab(prefix);
    this.env = { KEEL_ETCD_ENDPOINTS: this.etcd.socketEndpoint, KEEL_ETCD_PREFIX: '/registry', ...env };
  }

  async start(): Promise<void> {
    await this.etcd.start();
    this.ns = await this.lab.netns('n1');
  }

  async stop(): Promise<void> {
    await this.lab.destroy();
    await this.etcd.stop();
  }

  /** `keel apply` of the YAML documents, which must print nothing on stderr. */
  async apply(...docs: string[]): Promise<void> {
    const res = await keel(['apply', '-f', '-'], this.env, docs.join('---\n'));
    expect(res.stderr).toBe('');
  }

  /** keel run inside the node namespace. */
  async inNode(args: string[]): Promise<CliResult> {
    const res = await execa('ip', ['netns', 'exec', this.ns, process.execPath, KEEL_BIN, ...args], { env: this.env, reject: false });
    return { exitCode: res.exitCode, stdout: String(res.stdout), stderr: String(res.stderr) };
  }

  /** A command inside the node namespace (a restore tool, nft). */
  exec(cmd: string, args: string[], input?: string): Promise<string> {
    return this.lab.exec(this.ns, cmd, args, input);
  }
}
