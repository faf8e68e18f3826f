import { execa } from 'execa';
import type { CommandResult, Spawn } from './run-command.js';

/** runCommand where koffi cannot load: execa, which forks the agent through Node.js's child_process. */
export const execaSpawn: Spawn = async (file, args, opts) => {
  const res = await execa(file, args, {
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 1 << 30,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    stdout: opts.stdout ? 'pipe' : 'ignore',
    ...(opts.input === undefined ? {} : { input: opts.input }),
    ...(opts.timeoutMs === undefined ? {} : { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const }),
  });
  const result: CommandResult = {
    exitCode: res.exitCode,
    signal: res.signal,
    stdout: typeof res.stdout === 'string' ? res.stdout : '',
    stderr: typeof res.stderr === 'string' ? res.stderr : '',
    timedOut: res.timedOut,
    error: res.timedOut
      ? new Error(`${file} timed out after ${opts.timeoutMs ?? 0} ms`)
      : res.cause instanceof Error
        ? res.cause
        : undefined,
  };
  return result;
};
