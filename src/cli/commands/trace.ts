import type { Command } from 'commander';
import { keelOption } from '../options.js';
import { addNodeOptions } from '../node-flags.js';
import { lazy } from './lazy.js';

export function registerTrace(program: Command): void {
  const cmd = program
    .command('trace')
    .description('walk a packet through the rules keel would program and print every outcome with its probability')
    .requiredOption('--src <ip>', 'source address')
    .requiredOption('--dst <ip:port[/proto]>', 'destination, e.g. 10.96.0.10:80/tcp or [fd00:10:96::a]:80/tcp')
    .addOption(keelOption('--from <where>', 'pod, host or external', 'pod'))
    .addOption(keelOption('--mode <mode>', 'the proxy mode whose rules to walk: iptables or nftables', 'iptables'))
    .addOption(keelOption('-v, --verbose', 'print every matching rule'));
  addNodeOptions(cmd).action(lazy(async () => (await import('../trace.js')).runTrace));
}
