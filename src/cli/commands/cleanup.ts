import type { Command } from 'commander';
import { keelOption } from '../options.js';
import { lazy } from './lazy.js';

export function registerCleanup(program: Command): void {
  program
    .command('cleanup')
    .description(
      "remove every keel chain (iptables and userspace modes) and the jumps into them, and keel's nftables tables (ip and ip6), leaving other rules alone",
    )
    .addOption(keelOption('--iptables-backend <backend>', 'nft or legacy', 'nft'))
    .action(lazy(async () => (await import('../cleanup.js')).runCleanup));
}
