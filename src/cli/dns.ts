import type { Command, Option } from 'commander';
import { UsageError } from '../api/errors.js';
import { parseCidr, type Cidr } from '../api/ip.js';
import { DnsService } from '../dns/dns-service.js';
import { parseUpstreams, upstreamsFromResolvConf } from '../dns/forward.js';
import { recursionPolicy } from '../dns/recursion-policy.js';
import { POD_RECORDS_MODES, type PodRecordsMode } from '../dns/records.js';
import { parseListen } from '../dns/server.js';
import { createLogger } from '../observe/log.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { ClusterWatch } from '../watch/cluster-watch.js';
import { DEFAULT_SERVICE_RANGE } from './ipam-flags.js';
import { addEtcdOptions, etcdConnection, keelOption, parseIntFlag, registryPrefix, type EtcdFlags } from './options.js';

interface DnsFlags extends EtcdFlags {
  dnsListen: string;
  clusterDomain: string;
  dnsTtl: number;
  upstream?: string;
  clusterCidr: string;
  serviceClusterIpRange: string;
  nodeIp?: string;
  podRecords: string;
}

/** Loopback by default: a standalone server must be exposed on purpose (the agent listens on <node-ip>:53). */
export const DEFAULT_DNS_LISTEN = '127.0.0.1:53';

export function registerDns(program: Command): void {
  const cmd = program.command('dns')
    .description('serve cluster DNS alone (Kubernetes DNS spec 1.1.0) from the objects in etcd; names outside the zone go to --upstream')
    .addOption(keelOption('--dns-listen <addr>', 'UDP and TCP listen address[:port]', DEFAULT_DNS_LISTEN))
    .addOption(keelOption('--cluster-domain <zone>', 'cluster DNS zone', 'cluster.local'))
    .addOption(keelOption('--dns-ttl <seconds>', 'TTL of cluster records', 5).argParser(parseIntFlag('--dns-ttl', 0, 86_400)))
    .addOption(keelOption('--upstream <addrs>', 'resolvers for names outside the zone, addr[:port] comma-separated [default: nameservers of /etc/resolv.conf]'))
    .addOption(keelOption('--cluster-cidr <cidrs>', 'pod network(s): clients allowed recursion, and reverse zones', '10.244.0.0/16'))
    .addOption(keelOption('--service-cluster-ip-range <cidrs>', 'service range(s): reverse zones', DEFAULT_SERVICE_RANGE))
    .addOption(keelOption('--node-ip <ips>', 'this node\'s address(es), also allowed recursion'))
    .addOption(podRecordsOption());
  addEtcdOptions(cmd).action(async (flags: DnsFlags) => {
    const log = createLogger('dns');
    const podCidrs = cidrList('--cluster-cidr', flags.clusterCidr);
    const nodeIps = flags.nodeIp?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
    const upstreams = flags.upstream ? parseUpstreams(flags.upstream) : upstreamsFromResolvConf();
    const conn = etcdConnection(flags);
    const client = createEtcdClient(conn);
    const controller = new AbortController();
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => controller.abort());
    try {
      const watch = new ClusterWatch({ store: new KvStore(client, conn.endpoints), prefix: registryPrefix(flags), logger: log.child('watch') });
      const service = new DnsService({
        config: { zone: flags.clusterDomain, ttl: flags.dnsTtl, serviceCidrs: cidrList('--service-cluster-ip-range', flags.serviceClusterIpRange), podCidrs, nsAddresses: nodeIps, podRecords: podRecordsMode(flags.podRecords) },
        listen: parseListen(flags.dnsListen),
        source: watch,
        upstreams,
        recursionAllowed: recursionPolicy(podCidrs, nodeIps),
        logger: log,
      });
      await service.start(controller.signal);
      log.info('upstreams', { upstream: upstreams.map((u) => `${u.host}:${u.port}`).join(',') || 'none (foreign names refused)' });
      await watch.start(controller.signal);
      if (!controller.signal.aborted) await new Promise((resolve) => controller.signal.addEventListener('abort', resolve, { once: true }));
    } finally {
      controller.abort();
      client.close();
    }
  });
}

/** CoreDNS's `pods` option; kubeadm's Corefile says `pods insecure`. */
export function podRecordsOption(): Option {
  return keelOption('--pod-records <mode>', 'answer <a-b-c-d>.<ns>.pod.<zone>: insecure (any address), verified (existing pods only) or disabled', 'insecure');
}

export function podRecordsMode(value: string): PodRecordsMode {
  if (!(POD_RECORDS_MODES as readonly string[]).includes(value)) throw new UsageError(`--pod-records: "${value}" is not one of ${POD_RECORDS_MODES.join(', ')}`);
  return value as PodRecordsMode;
}

function cidrList(flag: string, text: string): Cidr[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const c = parseCidr(s);
    if (!c) throw new UsageError(`${flag}: ${JSON.stringify(s)} is not a CIDR`);
    return c;
  });
}
