import type { Command } from 'commander';
import { addEtcdOptions, keelOption, parseIntFlag } from '../options.js';
import { DEFAULT_SERVICE_RANGE } from '../ipam-flags.js';
import { addEndpointsSourceOption } from '../endpoints-source-flag.js';
import { dnsWorkersOption, podRecordsOption } from '../dns-flags.js';
import { lazy } from './lazy.js';

/** Loopback by default: a standalone server must be exposed on purpose (the agent listens on <node-ip>:53). */
const DEFAULT_DNS_LISTEN = '127.0.0.1:53';

export function registerDns(program: Command): void {
  const cmd = program
    .command('dns')
    .description('serve cluster DNS alone (Kubernetes DNS spec 1.1.0) from the objects in etcd; names outside the zone go to --upstream')
    .addOption(keelOption('--dns-listen <addrs>', 'UDP and TCP listen address[:port], one per family comma-separated', DEFAULT_DNS_LISTEN))
    .addOption(keelOption('--cluster-domain <zone>', 'cluster DNS zone', 'cluster.local'))
    .addOption(keelOption('--dns-ttl <seconds>', 'TTL of cluster records', 5).argParser(parseIntFlag('--dns-ttl', 0, 86_400)))
    .addOption(
      keelOption(
        '--upstream <addrs>',
        'resolvers for names outside the zone, addr[:port] comma-separated [default: nameservers of /etc/resolv.conf]',
      ),
    )
    .addOption(keelOption('--cluster-cidr <cidrs>', 'pod network(s): clients allowed recursion, and reverse zones', '10.244.0.0/16'))
    .addOption(keelOption('--service-cluster-ip-range <cidrs>', 'service range(s): reverse zones', DEFAULT_SERVICE_RANGE))
    .addOption(keelOption('--node-ip <ips>', "this node's address(es), also allowed recursion"))
    .addOption(podRecordsOption())
    .addOption(dnsWorkersOption());
  addEndpointsSourceOption(cmd);
  addEtcdOptions(cmd).action(lazy(async () => (await import('../dns.js')).runDns));
}
