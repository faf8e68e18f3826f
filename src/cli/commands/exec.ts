import type { Command } from 'commander';
import { keelOption } from '../options.js';
import { addRunDirOption } from '../sandbox-flags.js';
import { lazy } from './lazy.js';

export function registerExec(program: Command): void {
  const cmd = program
    .command('exec')
    .description("run a command in a sandbox pod (with its resolv.conf) or, with --node, in a node's namespace: keel exec POD -- CMD…")
    .argument('[pod]', 'pod name')
    .argument('[command...]', 'command and arguments, after --')
    .addOption(keelOption('-n, --namespace <ns>', 'pod namespace', 'default'))
    .addOption(keelOption('--node <name>', 'a node (node-1 …) or "client", the external client namespace'));
  addRunDirOption(cmd).action(lazy(async () => (await import('../exec.js')).runExec));
}
