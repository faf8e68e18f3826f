import { sandboxDown } from '../sandbox/down.js';
import type { RunDirFlags } from './sandbox-flags.js';

export async function runDown(flags: RunDirFlags): Promise<void> {
  const report = await sandboxDown(flags.runDir);
  if (!report) {
    process.stdout.write(`no sandbox in ${flags.runDir}\n`);
    return;
  }
  process.stdout.write(
    `sandbox ${report.id} removed: ${report.processes} processes stopped, ${report.namespaces.length} namespaces deleted\n`,
  );
}
