import type { Command } from 'commander';
import { UsageError } from '../../api/errors.js';
import { checkEtcdMembers } from '../../sandbox/sandbox-state.js';
import { keelOption, parseIntFlag } from '../options.js';
import { addProgramPathOption, addRunDirOption } from '../sandbox-flags.js';
import { lazy } from './lazy.js';

export function registerUp(program: Command): void {
  const cmd = program
    .command('up')
    .description('start a sandbox cluster on this machine: switch, node and etcd namespaces, keel agents, kube-dns')
    .addOption(keelOption('--nodes <n>', 'number of nodes', '3').argParser(parseIntFlag('--nodes', 1, 250)))
    .addOption(keelOption('--proxy-mode <mode>', 'iptables, nftables or userspace', 'iptables'))
    .addOption(keelOption('--backend <type>', 'overlay backend: vxlan, udp or host-gw', 'vxlan'))
    .addOption(keelOption('--etcd-members <n>', 'etcd members, each in its own namespace: 1, 3 or 5', '1').argParser(parseEtcdMembers))
    .addOption(
      keelOption(
        '--etcd-tls',
        'etcd with client and peer TLS: certificates made with openssl in the run directory, used by every agent, the controller and the CLI',
      ),
    )
    .addOption(
      keelOption(
        '--ip-family <family>',
        'ipv4, ipv6 or dual (IPv4 primary): underlay 172.30.0.0/24 and/or fd00:172:30::/64, pods 10.244.0.0/16 and/or fd00:10:244::/56, services 10.96.0.0/12 and/or fd00:10:96::/112',
        'ipv4',
      ),
    )
    .addOption(keelOption('--no-agents', 'build the cluster without starting keel agents'))
    .addOption(keelOption('--demo', 'then apply seed 004 (fixtures/sandbox/nginx/), wait until it answers and print what to try'));
  addProgramPathOption(addRunDirOption(cmd)).action(lazy(async () => (await import('../up.js')).runUp));
}

/** 1, 3 or 5, refused otherwise with the reason (`keel up --etcd-members 2`). */
function parseEtcdMembers(value: string): number {
  const n = parseIntFlag('--etcd-members', 1, 5)(value);
  try {
    checkEtcdMembers(n);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return n;
}
