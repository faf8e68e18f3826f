import type { Command } from 'commander';
import { execa } from 'execa';
import { isKeelError, UsageError } from '../api/errors.js';
import { namespacedName } from '../api/cluster-state.js';
import { describeNode, type OverlayEntry } from '../describe/node-report.js';
import { describeService, type FamilyFacts, type NodeFacts } from '../describe/service-report.js';
import type { IpFamily } from '../api/ip.js';
import { KEEL_ROUTE_PROTOCOL } from '../kernel/netlink/netlink-port.js';
import type { NetworkConfig } from '../overlay/network-config.js';
import { NftCommand } from '../kernel/nftables/nft-runner.js';
import { TABLE } from '../proxy-nftables/nft-names.js';
import { KEEL_BIN } from '../sandbox/agents.js';
import { clusterNetworks, findNode, readState, underlayIps } from '../sandbox/sandbox-state.js';
import { resourcePlural } from './get-output.js';
import { notFoundLine, ServerNotFoundError } from './not-found.js';
import { loadSnapshot, nodeConfig, nodeFamilies, readKernelView } from './rules.js';
import type { NodeFlags } from './node-flags.js';
import type { SubnetPrefixFlags } from './subnet-prefix-flags.js';
import { withLeaseStore } from './connect.js';
import type { RunDirFlags } from './sandbox-flags.js';

interface DescribeFlags extends NodeFlags, RunDirFlags, SubnetPrefixFlags {
  namespace: string;
  node?: string;
  proxyMode: string;
  clusterDomain: string;
  metricsAddress: string;
}

export async function runDescribe(resource: string, name: string, flags: DescribeFlags, cmd: Command): Promise<void> {
  const kind = ['service', 'services', 'svc'].includes(resource.toLowerCase())
    ? 'service'
    : ['node', 'nodes', 'no'].includes(resource.toLowerCase())
      ? 'node'
      : undefined;
  if (!kind) throw new UsageError(`describe: the server doesn't have a resource type "${resource}" (keel describes services and nodes)`);
  if (kind === 'node') {
    // In the sandbox, a node is described from inside its namespace; on a real node, from here with --node-ip.
    if (!flags.nodeIp) {
      process.exitCode = await describeInSandboxNode('node', name, { ...flags, node: name });
      return;
    }
    process.stdout.write(await describeThisNode(name, flags));
    return;
  }
  if (flags.node) {
    process.exitCode = await describeInSandboxNode('service', name, flags);
    return;
  }
  const snapshot = await loadSnapshot(flags);
  if (!snapshot.services.has(namespacedName(flags.namespace, name)))
    throw new ServerNotFoundError({ kind: 'Service', namespace: flags.namespace, name }, resourcePlural('Service'));
  // On a node (a --node-name given, or the agent's KEEL_NODE_NAME): compare with this namespace's kernel.
  const onNode = cmd.getOptionValueSource('nodeName') !== 'default';
  const node = onNode ? await nodeFacts(flags) : undefined;
  process.stdout.write(
    describeService({ snapshot, namespace: flags.namespace, name, clusterDomain: flags.clusterDomain, ...(node ? { node } : {}) }),
  );
}

/** Reads what the node holds; each part that cannot be read is said so in the report instead of failing it. */
async function nodeFacts(flags: DescribeFlags): Promise<NodeFacts> {
  // Each family's own tables: ip6tables-save and the ip6 keel table hold a dual-stack service's IPv6 half.
  const read = async (family: IpFamily): Promise<FamilyFacts> => ({
    config: nodeConfig(flags, family),
    ...(flags.proxyMode === 'iptables' ? { kernel: await readKernelView(flags, family) } : {}),
    ...(flags.proxyMode === 'nftables' ? { nftKernel: (await new NftCommand().listTable(family === 6 ? 'ip6' : 'ip', TABLE)) ?? '' } : {}),
  });
  const [primary, ...others] = nodeFamilies(flags);
  const facts: NodeFacts = { families: [await read(primary), ...(await Promise.all(others.map(read)))], proxyMode: flags.proxyMode };
  facts.agent = await agentHealth(flags.metricsAddress);
  const metrics = await httpGet(`http://${flags.metricsAddress}/metrics`);
  const failures = /^keel_iptables_restore_failures_total (\d+)/m.exec(metrics.body)?.[1];
  if (failures !== undefined) facts.restoreFailures = Number(failures);
  return facts;
}

/** This network namespace as node NAME: its lease and overlay entries against the leases in etcd. */
async function describeThisNode(name: string, flags: DescribeFlags): Promise<string> {
  const { network, leases } = await withLeaseStore(flags, async (store) => {
    const cfg = await store.getConfig().catch((err: unknown) => {
      if (isKeelError(err, 'KEEL_NOT_FOUND')) return undefined;
      throw err;
    });
    return { network: cfg, leases: (await store.list()).leases };
  });
  const kernel = network ? await overlayEntries(network) : undefined;
  const health = await agentHealth(flags.metricsAddress);
  return describeNode({ nodeName: name, nodeIp: flags.nodeIp as string, network, leases, ...(kernel ? { kernel } : {}), agent: health });
}

/** keel's routes (proto 0x6b) and the vxlan devices' remote FDB entries of each family the network runs, as `ip` and `bridge` print them. */
async function overlayEntries(network: NetworkConfig): Promise<OverlayEntry[]> {
  const families = [...(network.enableIPv4 ? ([4] as const) : []), ...(network.ipv6 ? ([6] as const) : [])];
  const out: OverlayEntry[] = [];
  for (const family of families) {
    const shown = await execa('ip', [`-${family}`, '-j', 'route', 'show', 'proto', String(KEEL_ROUTE_PROTOCOL)]);
    const routes = JSON.parse(shown.stdout || '[]') as { dst: string; gateway?: string }[];
    out.push(...routes.map((r): OverlayEntry => ({ kind: 'route', text: `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}` })));
  }
  if (network.backend.type === 'vxlan') {
    // flannel's device names: flannel.<VNI> and flannel-v6.<VNI>.
    for (const family of families) {
      const dev = `flannel${family === 6 ? '-v6' : ''}.${network.backend.vni}`;
      const fdb = await execa('bridge', ['-j', 'fdb', 'show', 'dev', dev], { reject: false });
      const entries = JSON.parse(fdb.stdout || '[]') as { mac: string; dst?: string }[];
      for (const e of entries) if (e.dst) out.push({ kind: 'fdb', text: `${e.mac} dst ${e.dst}` });
    }
  }
  return out;
}

async function agentHealth(address: string): Promise<NonNullable<NodeFacts['agent']>> {
  const health = await httpGet(`http://${address}/healthz`);
  return health.status
    ? { state: health.ok ? 'healthy' : 'unhealthy', text: health.body.trim().split('\n').join('; ') }
    : { state: 'unreachable', text: `no answer at ${address} (${health.body})` };
}

async function httpGet(url: string): Promise<{ ok: boolean; status: number; body: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return { ok: res.ok, status: res.status, body: await res.text() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { ok: false, status: 0, body: cause ?? (err as Error).message };
  }
}

/**
 * `--node NODE` in the sandbox: the same command, run inside the node's
 * network namespace with the node's own settings (as `keel exec --node`
 * runs `keel rules`), so the kernel and the agent's loopback are that node's.
 */
async function describeInSandboxNode(kind: 'service' | 'node', name: string, flags: DescribeFlags): Promise<number> {
  const state = readState(flags.runDir);
  if (!state)
    throw new UsageError(
      `--node: no sandbox in ${flags.runDir} (start one with \`keel up\`${kind === 'node' ? '; on a node, give --node-ip' : ''})`,
    );
  const node = state.nodes.find((n) => n === findNode(state, flags.node as string));
  if (!node && kind === 'node') {
    process.stderr.write(`${notFoundLine('nodes', name)}\n`);
    return 1;
  }
  if (!node) throw new UsageError(`--node: no node ${JSON.stringify(flags.node)} (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
  const args = [
    'describe',
    kind,
    name,
    '-n',
    flags.namespace,
    '--subnet-prefix',
    flags.subnetPrefix,
    '--node-name',
    node.name,
    '--node-ip',
    underlayIps(node).join(','),
    '--cluster-cidr',
    clusterNetworks(state).podNetwork,
    '--proxy-mode',
    state.proxyMode,
    '--cluster-domain',
    flags.clusterDomain,
    '--etcd-prefix',
    flags.etcdPrefix,
    '--iptables-backend',
    flags.iptablesBackend,
    ...(flags.etcdEndpoints ? ['--etcd-endpoints', flags.etcdEndpoints] : []),
  ];
  const res = await execa('ip', ['netns', 'exec', node.netns, process.execPath, KEEL_BIN, ...args], {
    stdio: 'inherit',
    reject: false,
    env: { KEEL_RUN_DIR: flags.runDir },
  });
  return res.exitCode ?? 1;
}
