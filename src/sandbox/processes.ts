import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KeelError } from '../api/errors.js';
import { sleep } from '../runtime/backoff.js';

/**
 * A process the sandbox started: its PID plus the kernel's start time,
 * so a recycled PID is never mistaken for (and never killed as) ours.
 */
export interface ProcessRef {
  pid: number;
  startTime: string;
}

export interface DetachedSpec {
  argv: readonly string[];
  /** Runs the command through `ip netns exec NS`. */
  netns?: string;
  cwd?: string;
  logFile: string;
  env?: Record<string, string>;
}

/** Starts a process in its own session, output appended to its log; it outlives the caller. */
export function startDetached(spec: DetachedSpec): ProcessRef {
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const fd = openSync(spec.logFile, 'a');
  try {
    const argv = spec.netns ? ['ip', 'netns', 'exec', spec.netns, ...spec.argv] : [...spec.argv];
    const child = spawn(argv[0] as string, argv.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
      env: { ...process.env, ...spec.env },
    });
    child.unref();
    if (child.pid === undefined) throw new KeelError('KEEL_CONFIG', `cannot start ${argv.join(' ')}`, { subject: spec.logFile });
    // `ip netns exec` execs the command, so this PID is the command's.
    return { pid: child.pid, startTime: startTimeOf(child.pid) ?? '' };
  } finally {
    closeSync(fd);
  }
}

/** Field 22 of /proc/PID/stat (after the parenthesised command name, which may hold spaces). */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

export function isRunning(ref: ProcessRef | undefined): boolean {
  if (!ref) return false;
  const now = startTimeOf(ref.pid);
  return now !== undefined && (ref.startTime === '' || now === ref.startTime);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(ref: ProcessRef | undefined, graceMs = 5_000): Promise<boolean> {
  if (!ref || !isRunning(ref)) return false;
  process.kill(ref.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isRunning(ref)) {
    if (Date.now() > deadline) {
      process.kill(ref.pid, 'SIGKILL');
      await waitGone(ref, 2_000);
      break;
    }
    await sleep(50);
  }
  return true;
}

async function waitGone(ref: ProcessRef, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (isRunning(ref) && Date.now() < deadline) await sleep(20);
}
