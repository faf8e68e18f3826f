import type { Command } from 'commander';
import { keelOption } from '../options.js';
import { addRunDirOption } from '../sandbox-flags.js';
import { addSubnetPrefixOption } from '../subnet-prefix-flags.js';
import { addNodeOptions } from '../node-flags.js';
import { lazy } from './lazy.js';

export function registerDescribe(program: Command): void {
  const cmd = program
    .command('describe')
    .description(
      "explain a Service end to end (endpoints, pods, DNS and, on a node or with --node in the sandbox, the kernel's rules for it) or a node's overlay (lease, routes and FDB present vs wanted, agent health), with the problems found",
    )
    .argument('<resource>', 'service (svc) or node')
    .argument('<name>', 'the service or node')
    .addOption(keelOption('-n, --namespace <ns>', 'namespace', 'default'))
    .addOption(keelOption('--node <name>', "sandbox: look from this node's namespace (its kernel rules and agent)"))
    .addOption(keelOption('--proxy-mode <mode>', "the agent's proxy mode on this node", 'iptables'))
    .addOption(keelOption('--cluster-domain <domain>', 'cluster DNS domain', 'cluster.local'))
    .addOption(keelOption('--metrics-address <addr>', "the node agent's /metrics and /healthz", '127.0.0.1:10249'));
  addSubnetPrefixOption(addRunDirOption(addNodeOptions(cmd))).action(lazy(async () => (await import('../describe.js')).runDescribe));
}
