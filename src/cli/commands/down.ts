import type { Command } from 'commander';
import { addRunDirOption } from '../sandbox-flags.js';
import { lazy } from './lazy.js';

export function registerDown(program: Command): void {
  const cmd = program.command('down').description('remove the sandbox: its processes, namespaces, links and run-directory files');
  addRunDirOption(cmd).action(lazy(async () => (await import('../down.js')).runDown));
}
