import type { ClusterSnapshot } from '../api/cluster-state.js';
import { UsageError } from '../api/errors.js';
import { parseCidr, parseIp, type Cidr, type IpFamily } from '../api/ip.js';
import type { Service } from '../api/service.js';
import { RestoreRunner, type IptablesBackend } from '../kernel/iptables/restore-runner.js';
import { parsePortRange } from '../ipam/node-ports.js';
import { planServiceAllocation } from '../ipam/service-allocation.js';
import { firstFree } from '../ipam/service-ips.js';
import { createLogger } from '../observe/log.js';
import { compileRules, DEFAULT_MASQUERADE_BIT, type NodeConfig } from '../proxy-iptables/compile.js';
import { renderRestore } from '../proxy-iptables/render-restore.js';
import { allCandidates, kernelViewOf, planSync, type KernelView } from '../proxy-iptables/sync-plan.js';
import { NftCommand } from '../kernel/nftables/nft-runner.js';
import { compileNftables } from '../proxy-nftables/compile.js';
import { TABLE } from '../proxy-nftables/nft-names.js';
import { renderTable } from '../proxy-nftables/render-table.js';
import { diffTables } from '../proxy-nftables/table-diff.js';
import { compileUserspaceRules } from '../proxy-userspace/portal-rules.js';
import { planProxyPorts } from '../proxy-userspace/proxy-ports.js';
import { servicePortals } from '../proxy-userspace/service-portals.js';
import { serviceViewsOf } from '../service-view/service-views.js';
import { withObjectStore } from './connect.js';
import type { NodeFlags } from './node-flags.js';
import { ipamConfig } from './ipam-flags.js';
import { readManifests } from './manifests.js';
import { endpointsSourceOf } from './endpoints-source-flag.js';
import { groupSlices, selectSlices, type EndpointSlice } from '../api/endpoint-slice.js';

interface RulesFlags extends NodeFlags {
  mode: string;
  ipFamily?: string;
  diff?: boolean;
  proxyPortRange: string;
}

const log = createLogger('cli');

/** The node as one family's tables see it: that family's pod network and node address. */
export function nodeConfig(flags: NodeFlags, family: IpFamily = 4): NodeConfig {
  const cidr = clusterCidrs(flags).find((c) => c.family === family)?.text;
  const ips = (flags.nodeIp ?? '').split(',').flatMap((t) => {
    if (!t.trim()) return [];
    const ip = parseIp(t.trim());
    if (!ip) throw new UsageError(`--node-ip: "${t.trim()}" is not an IP address`);
    return ip.family === family ? [ip.text] : [];
  });
  return {
    nodeName: flags.nodeName,
    masqueradeBit: DEFAULT_MASQUERADE_BIT,
    ...(family === 6 ? { family } : {}),
    ...(cidr ? { clusterCidr: cidr } : {}),
    ...(ips.length ? { nodeIPs: ips } : {}),
  };
}

function clusterCidrs(flags: NodeFlags): Cidr[] {
  return (flags.clusterCidr ?? '').split(',').flatMap((t) => {
    if (!t.trim()) return [];
    const c = parseCidr(t.trim());
    if (!c) throw new UsageError(`--cluster-cidr: "${t.trim()}" is not a CIDR`);
    return [c];
  });
}

/** The families the agent proxies on this node: those of --cluster-cidr, IPv4 first; IPv4 alone without one. */
export function nodeFamilies(flags: NodeFlags): [IpFamily, ...IpFamily[]] {
  const fams = new Set(clusterCidrs(flags).map((c) => c.family));
  const [first, ...rest] = ([4, 6] as const).filter((f) => fams.has(f));
  return first ? [first, ...rest] : [4];
}

/** `--ip-family 4|6|both`; by default the families of --cluster-cidr, as the agent proxies them. */
function ipFamilies(flags: RulesFlags): IpFamily[] {
  if (flags.ipFamily === undefined) return nodeFamilies(flags);
  const chosen = { '4': [4], '6': [6], both: [4, 6] }[flags.ipFamily] as IpFamily[] | undefined;
  if (!chosen) throw new UsageError(`--ip-family: "${flags.ipFamily}" is not 4, 6 or both`);
  return chosen;
}

export function backendOf(flags: { iptablesBackend: string }): IptablesBackend {
  if (flags.iptablesBackend !== 'nft' && flags.iptablesBackend !== 'legacy')
    throw new UsageError(`--iptables-backend: "${flags.iptablesBackend}" is not nft or legacy`);
  return flags.iptablesBackend;
}

/** From manifests (missing ClusterIPs/NodePorts allocated in memory, deterministically) or one consistent read of etcd. */
export async function loadSnapshot(flags: NodeFlags): Promise<ClusterSnapshot> {
  const source = endpointsSourceOf(flags);
  if (!flags.filename) return withObjectStore(flags, (store) => store.readSnapshot(source));
  const objects = readManifests(flags.filename);
  const key = (o: { metadata: { namespace: string; name: string } }): string => `${o.metadata.namespace}/${o.metadata.name}`;
  const services = new Map<string, Service>();
  const cfg = ipamConfig(flags);
  const ips = new Map<string, string>();
  const nodePorts = new Map<number, string>();
  const wanted = objects.filter((o): o is Service => o.kind === 'Service').sort((a, b) => (key(a) < key(b) ? -1 : 1));
  // Explicit addresses first, so an automatic choice never takes one a later manifest asks for.
  for (const svc of wanted) {
    for (const ip of svc.spec.clusterIPs ?? []) if (ip !== 'None') ips.set(ip, key(svc));
    for (const p of svc.spec.ports) if (p.nodePort !== undefined) nodePorts.set(p.nodePort, key(svc));
  }
  for (const svc of wanted) {
    const plan = planServiceAllocation(svc, undefined, { ips, nodePorts }, cfg, firstFree);
    for (const ip of plan.ips) ips.set(ip, key(svc));
    for (const p of plan.nodePorts) nodePorts.set(p, key(svc));
    services.set(key(svc), plan.service);
  }
  const endpoints = new Map(objects.flatMap((o) => (o.kind === 'Endpoints' ? [[key(o), o] as const] : [])));
  const pods = new Map(objects.flatMap((o) => (o.kind === 'Pod' ? [[key(o), o] as const] : [])));
  const slices = selectSlices(source, groupSlices(objects.filter((o): o is EndpointSlice => o.kind === 'EndpointSlice')));
  return { revision: 0, services, endpoints, pods, ...(slices ? { endpointSlices: slices } : {}) };
}

/** keel's chains as this network namespace's kernel holds them (`iptables-save`). */
export async function readKernelView(flags: { iptablesBackend: string }, family: IpFamily = 4): Promise<KernelView> {
  const runner = new RestoreRunner({ backend: backendOf(flags), family });
  return kernelViewOf({ nat: await runner.save('nat'), filter: await runner.save('filter') });
}

export async function runRules(flags: RulesFlags): Promise<void> {
  const snapshot = await loadSnapshot(flags);
  if (flags.mode === 'userspace') {
    if (!flags.nodeIp) throw new UsageError('--mode userspace needs --node-ip');
    const { portals, skipped } = servicePortals(serviceViewsOf(snapshot));
    for (const s of skipped) log.warn(s.message);
    const ports = planProxyPorts(
      portals.map((p) => p.name),
      parsePortRange(flags.proxyPortRange, '--proxy-port-range'),
      new Map(),
    );
    process.stdout.write(compileUserspaceRules(snapshot, { nodeIP: flags.nodeIp }, ports).text);
    return;
  }
  if (flags.mode !== 'iptables' && flags.mode !== 'nftables')
    throw new UsageError(`--mode: "${flags.mode}" is not iptables, nftables or userspace`);
  const families = ipFamilies(flags);
  for (const family of families) {
    if (flags.mode === 'nftables') {
      // Two families are two tables (ip keel, ip6 keel), one after the other as `nft list tables` would show them.
      const nft = compileNftables(snapshot, nodeConfig(flags, family));
      const table = renderTable(nft);
      if (!flags.diff) process.stdout.write(table);
      else {
        const have = (await new NftCommand().listTable(nft.family, TABLE)) ?? '';
        process.stdout.write(diffTables(table, have) || `# the kernel already holds table ${nft.family} ${TABLE}\n`);
      }
      continue;
    }
    // Two families: each ruleset under a comment naming the tool that loads it.
    if (families.length > 1) process.stdout.write(`# IPv${family}: ${family === 6 ? 'ip6tables' : 'iptables'}-restore\n`);
    const rules = compileRules(snapshot, nodeConfig(flags, family));
    if (!flags.diff) {
      process.stdout.write(renderRestore(rules));
      continue;
    }
    const view = await readKernelView(flags, family);
    const plan = planSync(allCandidates(rules, view), { nat: rules.nat.jumps, filter: rules.filter.jumps }, view);
    process.stdout.write(plan.text || '# the kernel already holds these rules\n');
  }
}
