import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { execaSpawn } from './execa-spawn.js';
import { posixSpawn } from './posix-spawn.js';
import { runCommand, type Spawn } from './run-command.js';

// Real processes through both ways keel starts them: posix_spawn through koffi (the agent's) and
// execa (where koffi cannot load). Each case must come out the same through either.
describe.each([
  ['posix_spawn', posixSpawn],
  ['execa', execaSpawn],
] as [string, Spawn][])('%s', (_name, spawn) => {
  it('reports the exit code, stdout and stderr', async () => {
    const res = await spawn('sh', ['-c', 'echo out; echo err >&2; exit 3'], { stdout: true });
    expect(res).toMatchObject({ exitCode: 3, signal: undefined, stdout: 'out\n', stderr: 'err\n', timedOut: false, error: undefined });
    expect(await spawn('true', [], {})).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
  });

  it('leaves stdout to /dev/null unless asked, and stdin to /dev/null without input', async () => {
    expect((await spawn('sh', ['-c', 'echo out; cat; echo done >&2'], {})).stderr).toBe('done\n');
  });

  it('feeds tens of MB on stdin', async () => {
    const input = `*nat\n${'-A KUBE-SVC-X -j KUBE-SEP-Y\n'.repeat(1_500_000)}COMMIT\n`;
    const res = await spawn('sh', ['-c', 'sha256sum; echo read >&2'], { input, stdout: true });
    expect(res).toMatchObject({ exitCode: 0, stdout: `${createHash('sha256').update(input).digest('hex')}  -\n`, stderr: 'read\n' });
    expect(input.length).toBeGreaterThan(40_000_000);
  });

  it('returns when the command exits without reading its input', async () => {
    const res = await spawn('sh', ['-c', 'echo refused >&2; exit 2'], { input: 'x'.repeat(20_000_000) });
    expect(res).toMatchObject({ exitCode: 2, stderr: 'refused\n' });
  });

  it('reports a missing binary as ENOENT, without an exit code', async () => {
    const res = await spawn('keel-no-such-tool', ['-S'], {});
    expect(res.exitCode).toBeUndefined();
    expect(res.error).toMatchObject({ code: 'ENOENT' });
    expect(res.error?.message).toContain('keel-no-such-tool');
  });

  it('kills the command at its timeout', async () => {
    const res = await spawn('sh', ['-c', 'echo started >&2; exec sleep 30'], { timeoutMs: 300 });
    expect(res).toMatchObject({ exitCode: undefined, signal: 'SIGKILL', timedOut: true, stderr: 'started\n' });
    expect(res.error?.message).toContain('timed out');
  });

  it('reports the signal that ended the command', async () => {
    expect(await spawn('sh', ['-c', 'kill -TERM $$'], {})).toMatchObject({ exitCode: undefined, signal: 'SIGTERM', timedOut: false });
  });

  it('starts the command with no standard signal ignored or blocked, in the agent environment', async () => {
    // Node.js ignores SIGPIPE, and ignored signals stay ignored across exec; glibc's posix_spawn
    // leaves its own two real-time signals (32, 33) ignored, which no tool uses.
    process.env.KEEL_SPAWN_TEST = 'x y';
    const res = await spawn('sh', ['-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status; echo "$KEEL_SPAWN_TEST"'], { stdout: true });
    delete process.env.KEEL_SPAWN_TEST;
    const [blocked, ignored, env] = res.stdout.split('\n').map((l) => l.split('\t')[1] ?? l);
    expect(BigInt(`0x${blocked}`)).toBe(0n);
    expect(BigInt(`0x${ignored}`) & 0x7fffffffn).toBe(0n);
    expect(env).toBe('x y');
  });

  it('keeps concurrent commands apart', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => spawn('sh', ['-c', `cat; echo ${i} >&2; exit ${i}`], { input: `in${i}`, stdout: true })),
    );
    expect(results.map((r) => [r.exitCode, r.stdout, r.stderr])).toEqual(Array.from({ length: 20 }, (_, i) => [i, `in${i}`, `${i}\n`]));
  });
});

it('runCommand runs through posix_spawn here (koffi loads on this machine)', async () => {
  expect(await runCommand('sh', ['-c', 'echo $$ >&2; exit 4'], {})).toMatchObject({ exitCode: 4, timedOut: false });
});
