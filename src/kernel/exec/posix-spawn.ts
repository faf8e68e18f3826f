import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type * as Koffi from 'koffi';
import type { Spawn } from './run-command.js';

/**
 * posix_spawnp(3) and its helpers from glibc, whose implementation starts
 * the child with clone(CLONE_VM|CLONE_VFORK): the child runs on the agent's
 * memory until it execs, so no page table is copied, whatever the agent's
 * RSS. Node.js's child_process (libuv) forks instead.
 */
// Through require, as src/kernel/tun/libc.ts loads it: a missing build fails this module's import, and runCommand falls back.
const lib = (createRequire(import.meta.url)('koffi') as typeof Koffi).load('libc.so.6');
const spawnp = lib.func('int posix_spawnp(void *pid, const char *file, void *actions, void *attr, const char **argv, const char **envp)');
const actionsInit = lib.func('int posix_spawn_file_actions_init(void *actions)');
const actionsDestroy = lib.func('int posix_spawn_file_actions_destroy(void *actions)');
const addDup2 = lib.func('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)');
const addOpen = lib.func('int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int oflag, int mode)');
const attrInit = lib.func('int posix_spawnattr_init(void *attr)');
const attrSetFlags = lib.func('int posix_spawnattr_setflags(void *attr, short flags)');
const attrSetSigmask = lib.func('int posix_spawnattr_setsigmask(void *attr, void *set)');
const attrSetSigdefault = lib.func('int posix_spawnattr_setsigdefault(void *attr, void *set)');
const sigemptyset = lib.func('int sigemptyset(void *set)');
const sigfillset = lib.func('int sigfillset(void *set)');
const pipe2 = lib.func('int pipe2(void *fds, int flags)');
const close = lib.func('int close(int fd)');
const waitpid = lib.func('int waitpid(int pid, void *status, int options)');
const waitid = lib.func('int waitid(int idtype, int id, void *info, int options)');

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_CLOEXEC = 0o2000000;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const P_PID = 1;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;

/**
 * One attribute set for every child, as libuv gives its children: every
 * signal at its default action (Node.js ignores SIGPIPE, and an ignored
 * signal stays ignored across exec) and none blocked. glibc's opaque types,
 * in buffers larger than x86-64's and arm64's sizes (336 and 80 bytes).
 */
const attr = Buffer.alloc(512);
{
  const none = Buffer.alloc(128);
  const all = Buffer.alloc(128);
  sigemptyset(none);
  sigfillset(all);
  if (
    attrInit(attr) !== 0 ||
    attrSetSigmask(attr, none) !== 0 ||
    attrSetSigdefault(attr, all) !== 0 ||
    attrSetFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) !== 0
  )
    throw new Error('posix_spawnattr set-up failed');
}

const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** A pipe whose both ends close on exec: the child gets its end only through a dup2 onto 0, 1 or 2. */
function pipe(): [read: number, write: number] {
  const fds = Buffer.alloc(8);
  if (pipe2(fds, O_CLOEXEC) !== 0) throw new Error('pipe2 failed');
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

function spawnError(file: string, errno: number): Error {
  const code = errnoNames.get(errno) ?? `errno ${errno}`;
  return Object.assign(new Error(`spawn ${file} ${code}`), { errno: -errno, code, syscall: `spawn ${file}`, path: file });
}

/** Reads a pipe end to its end on the event loop (libuv makes it non-blocking). */
function collect(fd: number): { socket: Socket; done: Promise<string> } {
  const socket = new Socket({ fd, readable: true, writable: false });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<string>((resolve) => {
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
  return { socket, done };
}

/**
 * Waits for the child to exit without blocking the event loop or reaping it:
 * waitid(WNOWAIT) on a libuv pool thread, asked only once its stdout and
 * stderr are closed, so it holds that thread for microseconds, not the
 * child's life. The reap (waitpid) happens here, after the timeout timer is
 * cleared: until then the pid cannot be reused, so the timeout's kill can
 * never reach another process.
 */
function exited(pid: number): Promise<void> {
  const info = Buffer.alloc(128);
  return new Promise((resolve, reject) => {
    const ask = (tries: number): void => {
      waitid.async(P_PID, pid, info, WEXITED | WNOWAIT, (err: unknown, r: number) => {
        if (!err && r === 0) resolve();
        else if (tries > 0) ask(tries - 1);
        else reject(err instanceof Error ? err : new Error(`waitid ${pid} failed`));
      });
    };
    ask(3);
  });
}

function reap(pid: number): { exitCode: number | undefined; signal: NodeJS.Signals | undefined } {
  const status = Buffer.alloc(4);
  if (waitpid(pid, status, WNOHANG) !== pid) return { exitCode: undefined, signal: undefined };
  const s = status.readInt32LE(0);
  const sig = s & 0x7f;
  return sig === 0 ? { exitCode: (s >> 8) & 0xff, signal: undefined } : { exitCode: undefined, signal: signalNames.get(sig) };
}

export const posixSpawn: Spawn = async (file, args, opts) => {
  const input = opts.input;
  const stdin = input === undefined ? undefined : pipe();
  const stdout = opts.stdout ? pipe() : undefined;
  const stderr = pipe();
  const actions = Buffer.alloc(256);
  const pidOut = Buffer.alloc(4);
  actionsInit(actions);
  if (stdin) addDup2(actions, stdin[0], 0);
  else addOpen(actions, 0, '/dev/null', O_RDONLY, 0);
  if (stdout) addDup2(actions, stdout[1], 1);
  else addOpen(actions, 1, '/dev/null', O_WRONLY, 0);
  addDup2(actions, stderr[1], 2);
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
  const rc = spawnp(pidOut, file, actions, attr, [file, ...args, null], [...env, null]) as number;
  actionsDestroy(actions);
  // The child holds its own copies now (or never started): close ours, so EOF comes when it exits.
  if (stdin) close(stdin[0]);
  if (stdout) close(stdout[1]);
  close(stderr[1]);
  if (rc !== 0) {
    for (const fd of [stdin?.[1], stdout?.[0], stderr[0]]) if (fd !== undefined) close(fd);
    const error = spawnError(file, rc);
    return { exitCode: undefined, signal: undefined, stdout: '', stderr: '', timedOut: false, error };
  }
  const pid = pidOut.readInt32LE(0);
  let timedOut = false;
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          process.kill(pid, 'SIGKILL');
        }, opts.timeoutMs);
  const out = stdout ? collect(stdout[0]) : undefined;
  const err = collect(stderr[0]);
  if (stdin && input !== undefined) {
    const socket = new Socket({ fd: stdin[1], readable: false, writable: true });
    // A tool that exits before reading all its input (a parse error) closes the pipe: its exit status tells.
    socket.on('error', () => socket.destroy());
    socket.end(input);
  }
  const [stdoutText, stderrText] = await Promise.all([out?.done ?? '', err.done]);
  await exited(pid);
  clearTimeout(timer);
  const status = reap(pid);
  return {
    ...status,
    stdout: stdoutText,
    stderr: stderrText,
    timedOut,
    error: timedOut ? new Error(`${file} timed out after ${opts.timeoutMs ?? 0} ms`) : undefined,
  };
};
