import type { Command } from 'commander';
import { sandboxDown } from '../sandbox/down.js';
import { addRunDirOption, type RunDirFlags } from './sandbox-flags.js';

export function registerDown(program: Command): void {
  const cmd = program.command('down').description('remove the sandbox: its processes, namespaces, links and run-directory files');
  addRunDirOption(cmd).action(async (flags: RunDirFlags) => {
    const report = await sandboxDown(flags.runDir);
    if (!report) {
      process.stdout.write(`no sandbox in ${flags.runDir}\n`);
      return;
    }
    process.stdout.write(
      `sandbox ${report.id} removed: ${report.processes} processes stopped, ${report.namespaces.length} namespaces deleted\n`,
    );
  });
}
