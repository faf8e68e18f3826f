import { KeelError } from '../../api/errors.js';
import { runCommand } from '../exec/run-command.js';
import { RestoreError } from './restore-error.js';

export type TableName = 'nat' | 'filter';
export type IptablesBackend = 'nft' | 'legacy';

export interface RestoreOptions {
  /** Keep chains and rules the input does not mention (keel never owns a whole table). */
  noflush: boolean;
  /** Parse and check only (`--test`); nothing is committed. */
  test?: boolean;
}

/** The one side effect of rule programming: feed restore text, read a dump. */
export interface IptablesRunner {
  restore(text: string, opts?: RestoreOptions): Promise<void>;
  save(table: TableName): Promise<string>;
  /** One chain's rules as `iptables -S CHAIN` prints them, undefined when the chain is gone: milliseconds however large the table. */
  listChain(table: TableName, chain: string): Promise<string | undefined>;
}

export interface RestoreRunnerOptions {
  backend: IptablesBackend;
  /** Run inside this network namespace (`ip netns exec NS …`). */
  netns?: string;
  family?: 4 | 6;
  /** Seconds to wait for the xtables lock (`-w`). */
  waitSeconds?: number;
}

/** Runs iptables-{nft,legacy}-restore/-save, feeding rules through stdin in one exec. */
export class RestoreRunner implements IptablesRunner {
  readonly backend: IptablesBackend;
  readonly netns: string | undefined;
  private readonly prefix: string;
  private readonly wait: string;

  constructor(opts: RestoreRunnerOptions) {
    this.backend = opts.backend;
    this.netns = opts.netns;
    this.prefix = `${opts.family === 6 ? 'ip6tables' : 'iptables'}-${opts.backend}`;
    this.wait = String(opts.waitSeconds ?? 5);
  }

  async restore(text: string, opts: RestoreOptions = { noflush: true }): Promise<void> {
    const args = ['-w', this.wait];
    if (opts.noflush) args.push('--noflush');
    if (opts.test) args.push('--test');
    const [file, argv] = this.command(`${this.prefix}-restore`, args);
    const res = await runCommand(file, argv, { input: text });
    if (res.exitCode !== 0) throw new RestoreError(this.subject(), text, res.stderr || (res.error?.message ?? ''), res.error);
  }

  async save(table: TableName): Promise<string> {
    const [file, argv] = this.command(`${this.prefix}-save`, ['-t', table]);
    const res = await runCommand(file, argv, { stdout: true });
    if (res.exitCode !== 0) {
      const why = res.stderr.split('\n')[0] || (res.error?.message ?? '');
      throw new KeelError('KEEL_RESTORE_FAILED', `${this.prefix}-save -t ${table} failed: ${why}`, { subject: this.subject() });
    }
    return res.stdout;
  }

  async listChain(table: TableName, chain: string): Promise<string | undefined> {
    const [file, argv] = this.command(this.prefix, ['-w', this.wait, '-t', table, '-S', chain]);
    const res = await runCommand(file, argv, { stdout: true });
    // Any failure counts as gone: the caller then reads the whole table, the safe direction.
    return res.exitCode === 0 ? res.stdout : undefined;
  }

  private command(tool: string, args: string[]): [string, string[]] {
    return this.netns ? ['ip', ['netns', 'exec', this.netns, tool, ...args]] : [tool, args];
  }

  private subject(): string {
    return this.netns ? `${this.prefix} in netns ${this.netns}` : this.prefix;
  }
}
