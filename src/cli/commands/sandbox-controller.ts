import type { Command } from 'commander';
import { addProgramPathOption, addRunDirOption } from '../sandbox-flags.js';
import { lazy } from './lazy.js';

export function registerSandboxController(program: Command): void {
  const cmd = program
    .command('sandbox-controller', { hidden: true })
    .description('run the sandbox pods, replication and endpoints controllers (started by keel up)');
  addProgramPathOption(addRunDirOption(cmd)).action(lazy(async () => (await import('../sandbox-controller.js')).runSandboxController));
}
