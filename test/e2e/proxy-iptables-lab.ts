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

/** A veth pair: `name` with aAddr in namespace a, its peer eth0 with bAddr in b, both up. */
export async function link(a: string, b: string, name: string, aAddr: string, bAddr: string): Promise<void> {
  await sh('ip', ['-n', a, 'link', 'add', name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b]);
  await sh('ip', ['-n', a, 'addr', 'add', aAddr, 'dev', name]);
  await sh('ip', ['-n', a, 'link', 'set', name, 'up']);
  await sh('ip', ['-n', b, 'addr', 'add', bAddr, 'dev', 'eth0']);
  await sh('ip', ['-n', b, 'link', 'set', 'eth0', 'up']);
}
