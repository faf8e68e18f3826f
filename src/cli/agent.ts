import { isIPv6 } from 'node:net';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { ConfigError, UsageError } from '../api/errors.js';
import { runAgent } from '../agent/agent.js';
import { configCidr, type AgentConfig, type OverlayBackendName, type ProxyMode } from '../agent/agent-config.js';
import { nodeAddress } from '../agent/node-address.js';
import { chooseNodeIp } from '../agent/node-ip.js';
import type { Node } from '../api/node.js';
import { createLogger, type Logger } from '../observe/log.js';
import { withObjectStore } from './connect.js';
import { addUnderlayOptions, iptablesBackendOf, underlayConfig, type UnderlayFlags } from './overlay-flags.js';
import { dnsWorkersOption, podRecordsOption, podRecordsMode } from './dns.js';
import { DEFAULT_SERVICE_RANGE } from './ipam-flags.js';
import { addEndpointsSourceOption, endpointsSourceOf, type EndpointsSourceFlags } from './endpoints-source-flag.js';
import {
  addEtcdOptions,
  addSubnetSourceOption,
  etcdConnection,
  keelOption,
  parseDuration,
  parseIntFlag,
  registryPrefix,
  subnetSourceOf,
  type EtcdFlags,
  type SubnetSourceFlags,
} from './options.js';

interface AgentFlags extends EtcdFlags, EndpointsSourceFlags, SubnetSourceFlags, UnderlayFlags {
  config?: string;
  subnetPrefix: string;
  nodeName?: string;
  nodeIp?: string;
  clusterCidr: string;
  serviceClusterIpRange: string;
  proxyMode: string;
  iptablesSyncPeriod: number;
  iptablesMinSyncPeriod: number;
  proxyPortRange?: string;
  udpTimeout: number;
  backend: string;
  dns: boolean;
  dnsListen?: string;
  clusterDomain: string;
  dnsTtl: number;
  dnsWorkers: number;
  upstream?: string;
  podRecords: string;
  metricsBindAddress: string;
  healthzBindAddress: string;
  nodeportAddresses?: string;
}

export function registerAgent(program: Command): void {
  const cmd = program
    .command('agent')
    .description('run on a node: proxy (iptables|userspace), overlay (vxlan|udp|host-gw) and cluster DNS, with /metrics and /healthz')
    .addOption(keelOption('--config <file>', 'YAML file of flag values (keys are flag names); flags and KEEL_* win over it'))
    .addOption(keelOption('--subnet-prefix <prefix>', 'overlay prefix in etcd', '/coreos.com/network'))
    .addOption(keelOption('--node-name <name>', "this node's name [default: the hostname]"))
    .addOption(
      keelOption(
        '--node-ip <ips>',
        "this node's IP for rules, or one per family (172.30.0.2,fd00:172:30::2) [default: its Node object's InternalIPs, else the address of --iface]",
      ),
    )
    .addOption(
      keelOption('--cluster-cidr <cidrs>', 'pod network(s), one per family comma-separated, for masquerade decisions', '10.244.0.0/16'),
    )
    .addOption(keelOption('--service-cluster-ip-range <cidrs>', 'service range (DNS reverse zones)', DEFAULT_SERVICE_RANGE))
    .addOption(keelOption('--proxy-mode <mode>', 'iptables, nftables, userspace or none', 'iptables'))
    .addOption(
      keelOption(
        '--iptables-sync-period <duration>',
        'periodic sync: checks the canary chains (a full resync reads the kernel at most hourly and after failures)',
        30_000,
        '30s',
      ).argParser(parseDuration('--iptables-sync-period')),
    )
    .addOption(
      keelOption('--iptables-min-sync-period <duration>', 'minimum time between syncs', 0, '0s').argParser(
        parseDuration('--iptables-min-sync-period'),
      ),
    )
    .addOption(keelOption('--proxy-port-range <range>', 'userspace proxy ports, e.g. 40000-40999 [default: any free port]'))
    .addOption(
      keelOption('--udp-timeout <duration>', 'userspace UDP association idle timeout', 250, '250ms').argParser(
        parseDuration('--udp-timeout'),
      ),
    )
    .addOption(keelOption('--backend <type>', 'overlay backend on this node: vxlan, udp, host-gw or none', 'none'))
    .addOption(keelOption('--no-dns', 'do not serve cluster DNS'))
    .addOption(
      keelOption('--dns-listen <addrs>', 'DNS listen address(es), one per family comma-separated [default: port 53 on each --node-ip]'),
    )
    .addOption(keelOption('--cluster-domain <zone>', 'cluster DNS zone', 'cluster.local'))
    .addOption(keelOption('--dns-ttl <seconds>', 'TTL of cluster records', 5).argParser(parseIntFlag('--dns-ttl', 0, 86_400)))
    .addOption(dnsWorkersOption())
    .addOption(keelOption('--upstream <addrs>', 'resolvers for names outside the zone [default: /etc/resolv.conf]'))
    .addOption(podRecordsOption())
    .addOption(keelOption('--metrics-bind-address <addr>', '/metrics, /healthz, /readyz', '127.0.0.1:10249'))
    .addOption(
      keelOption(
        '--healthz-bind-address <addr>',
        "kube-proxy's /healthz and /livez for load balancers and probes (with a proxy mode)",
        '0.0.0.0:10256',
      ),
    )
    .addOption(
      keelOption(
        '--nodeport-addresses <cidrs>',
        'NodePorts only on local addresses in these CIDRs, or "primary" for --node-ip [default: every local address, 127.0.0.1 included]',
      ),
    );
  addUnderlayOptions(cmd);
  addEndpointsSourceOption(cmd);
  addSubnetSourceOption(cmd);
  addEtcdOptions(cmd).action(async (flags: AgentFlags, self: Command) => {
    if (flags.config) applyConfigFile(self, flags.config);
    await runAgent(await agentConfig(self.opts<AgentFlags>()));
  });
}

/** Values from --config fill only what neither a flag nor KEEL_* set. */
function applyConfigFile(cmd: Command, path: string): void {
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`--config ${path}`, (err as Error).message.split('\n')[0] ?? 'unreadable');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ConfigError(`--config ${path}`, 'must be a YAML mapping of flag names to values');
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const opt = cmd.options.find((o) => o.long === `--${key}` || o.long === `--no-${key}`);
    if (!opt) throw new ConfigError(`--config ${path}`, `unknown setting ${JSON.stringify(key)}`);
    const name = opt.attributeName();
    const source = cmd.getOptionValueSource(name);
    if (source === 'cli' || source === 'env') continue;
    const text = String(value);
    cmd.setOptionValueWithSource(name, opt.parseArg && typeof value !== 'boolean' ? opt.parseArg(text, undefined) : value, 'config');
  }
}

/** This node's Node object, if etcd holds one; a read that fails is logged and the agent falls back. */
async function readOwnNode(f: AgentFlags, nodeName: string, log: Logger): Promise<Node | undefined> {
  try {
    return (await withObjectStore(f, (objects) => objects.get('Node', '', nodeName)))?.object;
  } catch (err) {
    log.warn("cannot read this node's Node object; taking the node IP from an interface", {
      node: nodeName,
      error: (err as Error).message,
    });
    return undefined;
  }
}

async function agentConfig(f: AgentFlags): Promise<AgentConfig> {
  const proxyMode = oneOf<ProxyMode>('--proxy-mode', f.proxyMode, ['iptables', 'nftables', 'userspace', 'none']);
  const backend = oneOf<OverlayBackendName>('--backend', f.backend, ['vxlan', 'udp', 'host-gw', 'none']);
  const iptablesBackend = iptablesBackendOf(f);
  const nodeName = f.nodeName ?? hostname();
  const log = createLogger('agent');
  const node = (f.nodeIp ?? f.publicIp) ? undefined : await readOwnNode(f, nodeName, log);
  const choice = chooseNodeIp({ nodeIp: f.nodeIp, publicIp: f.publicIp, node }, () => nodeAddress(f.iface));
  log.info('node IP', { ip: choice.ips.join(','), from: choice.from });
  const nodeIps = choice.ips;
  return {
    name: 'agent',
    etcd: etcdConnection(f),
    metricsBindAddress: f.metricsBindAddress,
    healthPeriodMs: f.iptablesSyncPeriod,
    registryPrefix: registryPrefix(f),
    endpointsSource: endpointsSourceOf(f),
    proxy:
      proxyMode === 'none'
        ? undefined
        : {
            mode: proxyMode,
            nodeName,
            nodeIps,
            clusterCidr: f.clusterCidr,
            iptablesBackend,
            syncPeriodMs: f.iptablesSyncPeriod,
            minSyncPeriodMs: f.iptablesMinSyncPeriod,
            portRange: f.proxyPortRange,
            udpTimeoutMs: f.udpTimeout,
            healthzBindAddress: f.healthzBindAddress,
            nodePortAddresses: f.nodeportAddresses,
          },
    overlay:
      backend === 'none'
        ? undefined
        : {
            subnetPrefix: f.subnetPrefix.replace(/\/+$/, ''),
            backend,
            ...underlayConfig(f, nodeIps),
            iface: f.iface ?? choice.iface,
            ipMasq: true,
            leaseTtlSeconds: undefined,
            subnetSource: subnetSourceOf(f),
            nodeName,
          },
    dns: f.dns
      ? {
          listen: f.dnsListen ?? nodeIps.map((ip) => (isIPv6(ip) ? `[${ip}]:53` : `${ip}:53`)).join(','),
          zone: f.clusterDomain,
          ttl: f.dnsTtl,
          upstream: f.upstream,
          podRecords: podRecordsMode(f.podRecords),
          podCidrs: f.clusterCidr.split(',').map((s) => configCidr('--cluster-cidr', s.trim())),
          serviceCidrs: f.serviceClusterIpRange.split(',').map((s) => configCidr('--service-cluster-ip-range', s.trim())),
          nodeIps,
          workers: f.dnsWorkers,
        }
      : undefined,
  };
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag}: "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}
