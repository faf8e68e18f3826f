import type { Command } from 'commander';
import { RestoreRunner } from '../iptables/restore-runner.js';
import { kernelViewOf, planCleanup } from '../proxy-iptables/sync-plan.js';
import { backendOf } from './rules.js';
import { keelOption } from './options.js';

export function registerCleanup(program: Command): void {
  program.command('cleanup')
    .description('remove every keel (KUBE-) chain and the jumps into them, leaving other rules alone')
    .addOption(keelOption('--iptables-backend <backend>', 'nft or legacy', 'nft'))
    .action(async (flags: { iptablesBackend: string }) => {
      const runner = new RestoreRunner({ backend: backendOf(flags) });
      const view = kernelViewOf({ nat: await runner.save('nat'), filter: await runner.save('filter') });
      const text = planCleanup(view);
      if (text) await runner.restore(text, { noflush: true });
    });
}
