import type { Command } from 'commander';
import { addEndpointsSourceOption, type EndpointsSourceFlags } from './endpoints-source-flag.js';
import { addIpamOptions, type IpamFlags } from './ipam-flags.js';
import { addEtcdOptions, keelOption, type EtcdFlags } from './options.js';

export interface NodeFlags extends EtcdFlags, IpamFlags, EndpointsSourceFlags {
  filename?: string[];
  nodeName: string;
  nodeIp?: string;
  clusterCidr?: string;
  iptablesBackend: string;
}

/** Flags shared by `keel rules`, `keel trace` and `keel describe`: where the objects come from and which node the rules are for. */
export function addNodeOptions(cmd: Command): Command {
  cmd
    .addOption(keelOption('-f, --filename <path...>', 'compile from manifests (files, directories or "-") instead of etcd'))
    .addOption(keelOption('--node-name <name>', 'the node the rules are for (decides which endpoints are local)', 'node-1'))
    .addOption(keelOption('--node-ip <ips>', "the node's IP(s), one per family (NodePorts and userspace HOST rules)"))
    .addOption(keelOption('--cluster-cidr <cidrs>', 'pod network(s), one per family, for masquerade decisions', '10.244.0.0/16'))
    .addOption(keelOption('--iptables-backend <backend>', 'nft or legacy', 'nft'));
  return addIpamOptions(addEtcdOptions(addEndpointsSourceOption(cmd)));
}
