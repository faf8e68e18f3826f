import { Command, CommanderError } from 'commander';
import { isKeelError } from '../api/errors.js';
import { commands } from './commands.js';
import { ServerNotFoundError } from './not-found.js';

export function buildProgram(): Command {
  const program = new Command('keel')
    .description('keel: kube-proxy, flannel-style overlay and cluster DNS for a node, from etcd v3')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  for (const register of commands) register(program);
  return program;
}

/** Runs the CLI; every failure becomes one line on stderr and a non-zero exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0;
      process.stderr.write(`keel: ${err.message.replace(/^error: /, '')}\n`);
      return err.exitCode || 2;
    }
    // kubectl's own wording stands alone, as kubectl prints it.
    process.stderr.write(err instanceof ServerNotFoundError ? `${err.message}\n` : `keel: ${oneLine(err)}\n`);
    return isKeelError(err, 'KEEL_USAGE') ? 2 : 1;
  }
}

function oneLine(err: unknown): string {
  if (isKeelError(err)) return err.message;
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}
