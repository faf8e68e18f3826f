import { randomBytes } from 'node:crypto';
import { execa } from 'execa';

/** Network namespaces for the proxy suites: "<prefix>-<run>-<role>" (prefix "kp" by default), removed by `destroy()`. */
export class NetnsLab {
  readonly run = randomBytes(2).toString('hex');
  private readonly made: string[] = [];

  constructor(readonly prefix = 'kp') {}

  name(role: string): string {
    return `${this.prefix}-${this.run}-${role}`;
  }

  /** A link name for this run (at most 15 characters with a short role). */
  link(role: string): string {
    return `${this.prefix}${this.run}${role}`;
  }

  async netns(role: string): Promise<string> {
    const ns = this.name(role);
    await sh('ip', ['netns', 'add', ns]);
    this.made.push(ns);
    await this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  async exec(ns: string, cmd: string, args: string[], input?: string): Promise<string> {
    const res = await execa('ip', ['netns', 'exec', ns, cmd, ...args], input === undefined ? {} : { input });
    return res.stdout;
  }

  async destroy(): Promise<void> {
    for (const ns of this.made.reverse()) await execa('ip', ['netns', 'del', ns], { reject: false });
    this.made.length = 0;
  }
}

export async function sh(cmd: string, args: string[]): Promise<string> {
  return (await execa(cmd, args)).stdout;
}
