import Module from 'node:module';
import { afterAll, expect, it } from 'vitest';

// As on a platform koffi has no build for: the package cannot be resolved, before runCommand is
// first imported in this file's own process.
const hooks = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
const resolve = hooks._resolveFilename;
hooks._resolveFilename = function (this: unknown, request, ...rest) {
  if (request === 'koffi') throw new Error("Cannot find module 'koffi' (hidden by the test)");
  return resolve.call(this, request, ...rest);
};
afterAll(() => {
  hooks._resolveFilename = resolve;
});

it('falls back to execa with one warning where koffi cannot load', async () => {
  const log = await import('../../observe/log.js');
  const lines: string[] = [];
  log.setLogSink({ write: (line) => lines.push(line) });
  log.setLogLevel('warn');
  const { runCommand } = await import('./run-command.js');
  expect(await runCommand('sh', ['-c', 'echo err >&2; exit 3'], {})).toMatchObject({ exitCode: 3, stderr: 'err\n' });
  expect(await runCommand('cat', [], { input: 'in', stdout: true })).toMatchObject({ exitCode: 0, stdout: 'in' });
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/level=warn component=exec error=.*hidden by the test.*msg=.*posix_spawn through koffi is unavailable/);
});
