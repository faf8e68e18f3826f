import { runAgent } from '../agent/agent.js';
import { UsageError } from '../api/errors.js';
import { parseCidr, type Cidr } from '../api/ip.js';
import { podRecordsMode } from './dns-flags.js';
import { etcdConnection } from './connect.js';
import { endpointsSourceOf, type EndpointsSourceFlags } from './endpoints-source-flag.js';
import { registryPrefix, type EtcdFlags } from './options.js';

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

export async function runDns(flags: DnsFlags): Promise<void> {
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
