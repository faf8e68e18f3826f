import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

/** The built CLI, run as a user runs it (npm test builds first). */
export const KEEL_BIN = fileURLToPath(new URL('../../bin/keel.js', import.meta.url));

export interface CliResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

export async function keel(args: string[], env: Record<string, string> = {}, input?: string, timeoutMs = 60_000): Promise<CliResult> {
  const res = await execa('node', [KEEL_BIN, ...args], { env, reject: false, input: input ?? '', timeout: timeoutMs });
  return { exitCode: res.exitCode, stdout: String(res.stdout), stderr: String(res.stderr) };
}
