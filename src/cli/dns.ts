import type { Command, Option } from 'commander';
import { runAgent } from '../agent/agent.js';
import { UsageError } from '../api/errors.js';
import { parseCidr, type Cidr } from '../api/ip.js';
import { POD_RECORDS_MODES, type PodRecordsMode } from '../dns/records.js';
import { DEFAULT_SERVICE_RANGE } from './ipam-flags.js';
import { addEndpointsSourceOption, endpointsSourceOf, type EndpointsSourceFlags } from './endpoints-source-flag.js';
import { addEtcdOptions, etcdConnection, keelOption, parseIntFlag, registryPrefix, type EtcdFlags } from './options.js';

interface DnsFlags extends EtcdFlags, EndpointsSourceFlags {
  dnsListen: string;
  clusterDomain: string;
  dnsTtl: number;
  upstream?: string;
  clusterCidr: string;
  serviceClusterIpRange: string;
  nodeIp?: string;
  podRecords: string;
  dnsWorkers: number;
}

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
  addEtcdOptions(cmd).action(async (flags: DnsFlags) => {
    await runAgent({
      name: 'dns',
      etcd: etcdConnection(flags),
      metricsBindAddress: undefined,
      healthPeriodMs: 30_000,
      registryPrefix: registryPrefix(flags),
      endpointsSource: endpointsSourceOf(flags),
      proxy: undefined,
      overlay: undefined,
      dns: {
        listen: flags.dnsListen,
        zone: flags.clusterDomain,
        ttl: flags.dnsTtl,
        upstream: flags.upstream,
        podRecords: podRecordsMode(flags.podRecords),
        podCidrs: cidrList('--cluster-cidr', flags.clusterCidr),
        serviceCidrs: cidrList('--service-cluster-ip-range', flags.serviceClusterIpRange),
        nodeIps:
          flags.nodeIp
            ?.split(',')
            .map((s) => s.trim())
            .filter(Boolean) ?? [],
        workers: flags.dnsWorkers,
      },
    });
  });
}

/** 2 or more: worker threads with a SO_REUSEPORT socket each, answering in recvmmsg/sendmmsg batches (src/dns/dns-workers.ts). */
export function dnsWorkersOption(): Option {
  return keelOption(
    '--dns-workers <n>',
    'threads answering DNS over UDP: 1 is the agent thread; n ≥ 2 are n worker threads with a SO_REUSEPORT socket each (TCP and forwarding stay on the agent thread)',
    1,
  ).argParser(parseIntFlag('--dns-workers', 1, 64));
}

/** CoreDNS's `pods` option; kubeadm's Corefile says `pods insecure`. */
export function podRecordsOption(): Option {
  return keelOption(
    '--pod-records <mode>',
    'answer <a-b-c-d>.<ns>.pod.<zone>: insecure (any address), verified (existing pods only) or disabled',
    'insecure',
  );
}

export function podRecordsMode(value: string): PodRecordsMode {
  if (!(POD_RECORDS_MODES as readonly string[]).includes(value))
    throw new UsageError(`--pod-records: "${value}" is not one of ${POD_RECORDS_MODES.join(', ')}`);
  return value as PodRecordsMode;
}

function cidrList(flag: string, text: string): Cidr[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const c = parseCidr(s);
      if (!c) throw new UsageError(`${flag}: ${JSON.stringify(s)} is not a CIDR`);
      return c;
    });
}
