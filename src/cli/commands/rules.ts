import type { Command } from 'commander';
import { keelOption } from '../options.js';
import { addNodeOptions } from '../node-flags.js';
import { lazy } from './lazy.js';

export function registerRules(program: Command): void {
  const cmd = program
    .command('rules')
    .description(
      'print the rules keel programs for a node (iptables-save format, or `nft list table` syntax with --mode nftables), from manifests or etcd',
    )
    .addOption(keelOption('--mode <mode>', 'iptables, nftables or userspace', 'iptables'))
    .addOption(
      keelOption(
        '--ip-family <family>',
        'iptables and nftables modes: 4, 6 or both (ip6tables-restore text, the ip6 keel table) [default: the families of --cluster-cidr]',
      ),
    )
    .addOption(keelOption('--diff', "show what a sync would change against the kernel's current keel chains"))
    .addOption(keelOption('--proxy-port-range <range>', 'userspace mode: local proxy ports to assume', '40000-40999'));
  addNodeOptions(cmd).action(lazy(async () => (await import('../rules.js')).runRules));
}
