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
import type { UserspaceRelay } from '../proxy-userspace/userspace-proxier.js';
import { etcdConnection, withObjectStore } from './connect.js';
import { iptablesBackendOf, underlayConfig, type UnderlayFlags } from './overlay-flags.js';
import { podRecordsMode } from './dns-flags.js';
import { endpointsSourceOf, type EndpointsSourceFlags } from './endpoints-source-flag.js';
import { registryPrefix, subnetSourceOf, type EtcdFlags, type SubnetSourceFlags } from './options.js';

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
  userspaceRelay: string;
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

export async function runAgentCommand(flags: AgentFlags, self: Command): Promise<void> {
  if (flags.config) applyConfigFile(self, flags.config);
  await runAgent(await agentConfig(self.opts<AgentFlags>()));
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
            userspaceRelay: oneOf<UserspaceRelay>('--userspace-relay', f.userspaceRelay, ['native', 'node']),
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
