import { KeelError } from '../../api/errors.js';
import { runCommand } from '../exec/run-command.js';

/** The one side effect of the nftables mode: run a transaction, read back a table or a chain. */
export interface NftablesPort {
  /** One `nft -f` transaction: all of it is committed or none. */
  run(script: string): Promise<void>;
  /** `nft list table`, undefined when the table does not exist. */
  listTable(family: string, table: string): Promise<string | undefined>;
  /** `nft list chain`, undefined when the chain (or its table) does not exist. */
  listChain(family: string, table: string, chain: string): Promise<string | undefined>;
}

/**
 * nft refused a transaction. Carries the failing line of the script (nft
 * names it as `/dev/stdin:LINE:COLS: Error: …`) so a log line shows it.
 */
class NftError extends KeelError {
  override name = 'NftError' as const;
  readonly line: number | undefined;
  readonly stderr: string;

  constructor(subject: string, script: string, stderr: string) {
    const m = /:(\d+):\d+(?:-\d+)?: Error: (.*)/.exec(stderr);
    const line = m?.[1] === undefined ? undefined : Number(m[1]);
    const where = line === undefined ? '' : ` at line ${line}: ${(script.split('\n')[line - 1] ?? '').trim().slice(0, 200)}`;
    super('KEEL_NFT_FAILED', `nft -f failed${where} (${m?.[2] ?? (stderr.trim().split('\n')[0] || 'no message')})`, { subject });
    this.line = line;
    this.stderr = stderr;
  }
}

/** Debian's `nft` (nftables 1.0.6), fed through stdin, optionally inside a network namespace. */
export class NftCommand implements NftablesPort {
  readonly netns: string | undefined;

  constructor(opts: { netns?: string } = {}) {
    this.netns = opts.netns;
  }

  async run(script: string): Promise<void> {
    const [file, argv] = this.command(['-f', '-']);
    const res = await runCommand(file, argv, { input: script });
    if (res.exitCode !== 0) throw new NftError(this.subject(), script, res.stderr || (res.error?.message ?? ''));
  }

  async listTable(family: string, table: string): Promise<string | undefined> {
    return this.read(['list', 'table', family, table]);
  }

  async listChain(family: string, table: string, chain: string): Promise<string | undefined> {
    return this.read(['list', 'chain', family, table, chain]);
  }

  private async read(args: string[]): Promise<string | undefined> {
    const [file, argv] = this.command(args);
    const res = await runCommand(file, argv, { stdout: true });
    // Without its final newline, as the callers have always read it.
    if (res.exitCode === 0) return res.stdout.replace(/\n$/, '');
    if (/No such file or directory/.test(res.stderr)) return undefined;
    throw new KeelError('KEEL_NFT_FAILED', `nft ${args.join(' ')} failed: ${res.stderr.split('\n')[0] || (res.error?.message ?? '')}`, {
      subject: this.subject(),
    });
  }

  private command(args: string[]): [string, string[]] {
    return this.netns ? ['ip', ['netns', 'exec', this.netns, 'nft', ...args]] : ['nft', args];
  }

  private subject(): string {
    return this.netns ? `nft in netns ${this.netns}` : 'nft';
  }
}
