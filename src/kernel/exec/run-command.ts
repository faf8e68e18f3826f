import { createLogger } from '../../observe/log.js';

/** What a command run by keel (iptables-restore, iptables-save, `iptables -S`, …) left behind; never thrown. */
export interface CommandResult {
  /** undefined when the command never started or a signal ended it. */
  readonly exitCode: number | undefined;
  readonly signal: NodeJS.Signals | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** The timeout ended it (with SIGKILL). */
  readonly timedOut: boolean;
  /** Why it did not start (`spawn iptables-nft-restore ENOENT`), or the timeout. */
  readonly error: Error | undefined;
}

export interface CommandOptions {
  /** Written to its stdin, then closed; without it stdin is /dev/null. */
  readonly input?: string;
  /** Collect stdout; without it stdout is /dev/null. */
  readonly stdout?: boolean;
  /** Kill it with SIGKILL after this long. */
  readonly timeoutMs?: number;
}

export type Spawn = (file: string, args: readonly string[], opts: CommandOptions) => Promise<CommandResult>;

let spawner: Promise<Spawn> | undefined;

/**
 * Runs a command (found on PATH) to its end. Through posix_spawn(3) where
 * koffi loads: glibc starts the child with clone(CLONE_VM|CLONE_VFORK), as
 * Go's os/exec does for kube-proxy, while Node.js's child_process forks the
 * whole agent, copying the page tables of its heap on every call (6–11 ms of
 * the agent's CPU per restore at 50–340 MB RSS). Elsewhere through execa,
 * said once in the log.
 */
export function runCommand(file: string, args: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  spawner ??= import('./posix-spawn.js').then(
    (m) => m.posixSpawn,
    async (err: unknown) => {
      createLogger('exec').warn('posix_spawn through koffi is unavailable: commands are forked by Node.js (execa), at more CPU per call', {
        error: err instanceof Error ? err.message : String(err),
      });
      return (await import('./execa-spawn.js')).execaSpawn;
    },
  );
  return spawner.then((spawn) => spawn(file, args, opts));
}
