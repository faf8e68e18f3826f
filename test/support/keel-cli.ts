import { execa, type Result } from 'execa';
import { fileURLToPath } from 'node:url';

/** The built CLI, run as a user runs it (npm test builds first). */
export const KEEL_BIN = fileURLToPath(new URL('../../bin/keel.js', import.meta.url));

export function keel(args: string[], env: Record<string, string> = {}, input?: string): Promise<Result> {
  return execa('node', [KEEL_BIN, ...args], { env, reject: false, ...(input !== undefined ? { input } : {}), timeout: 60_000 });
}
