import type { Command } from 'commander';
import { execa } from 'execa';
import { UsageError } from '../api/errors.js';
import { namespacedName } from '../api/cluster-state.js';
import { describeService, type NodeFacts } from '../describe/service-report.js';
import { KEEL_BIN } from '../sandbox/agents.js';
import { findNode, POD_NETWORK, readState } from '../sandbox/sandbox-state.js';
import { ServerNotFoundError } from './not-found.js';
import { keelOption } from './options.js';
import { addNodeOptions, loadSnapshot, nodeConfig, readKernelView, type NodeFlags } from './rules.js';
import { addRunDirOption, type RunDirFlags } from './sandbox-flags.js';

interface DescribeFlags extends NodeFlags, RunDirFlags {
  namespace: string;
  node?: string;
  proxyMode: string;
  clusterDomain: string;
  metricsAddress: string;
}

export function registerDescribe(program: Command): void {
  const cmd = program.command('describe')
    .description('explain a Service end to end: endpoints, pods, DNS, and (on a node, or --node in the sandbox) the kernel\'s rules for it, with the problems found')
    .argument('<resource>', 'service (svc)')
    .argument('<name>', 'the service')
    .addOption(keelOption('-n, --namespace <ns>', 'namespace', 'default'))
    .addOption(keelOption('--node <name>', 'sandbox: look from this node\'s namespace (its kernel rules and agent)'))
    .addOption(keelOption('--proxy-mode <mode>', 'the agent\'s proxy mode on this node', 'iptables'))
    .addOption(keelOption('--cluster-domain <domain>', 'cluster DNS domain', 'cluster.local'))
    .addOption(keelOption('--metrics-address <addr>', 'the node agent\'s /metrics and /healthz', '127.0.0.1:10249'));
  addRunDirOption(addNodeOptions(cmd)).action(async (resource: string, name: string, flags: DescribeFlags) => {
    if (!['service', 'services', 'svc'].includes(resource.toLowerCase())) throw new UsageError(`describe: the server doesn't have a resource type "${resource}" (keel describes services)`);
    if (flags.node) {
      process.exitCode = await describeInSandboxNode(name, flags);
      return;
    }
    const snapshot = await loadSnapshot(flags);
    if (!snapshot.services.has(namespacedName(flags.namespace, name))) throw new ServerNotFoundError({ kind: 'Service', namespace: flags.namespace, name });
    // On a node (a --node-name given, or the agent's KEEL_NODE_NAME): compare with this namespace's kernel.
    const onNode = cmd.getOptionValueSource('nodeName') !== 'default';
    const node = onNode ? await nodeFacts(flags) : undefined;
    process.stdout.write(describeService({ snapshot, namespace: flags.namespace, name, clusterDomain: flags.clusterDomain, ...(node ? { node } : {}) }));
  });
}

/** Reads what the node holds; each part that cannot be read is said so in the report instead of failing it. */
async function nodeFacts(flags: DescribeFlags): Promise<NodeFacts> {
  const facts: NodeFacts = { config: nodeConfig(flags), proxyMode: flags.proxyMode };
  if (flags.proxyMode === 'iptables') facts.kernel = await readKernelView(flags);
  const health = await httpGet(`http://${flags.metricsAddress}/healthz`);
  facts.agent = health.status
    ? { state: health.ok ? 'healthy' : 'unhealthy', text: health.body.trim().split('\n').join('; ') }
    : { state: 'unreachable', text: `no answer at ${flags.metricsAddress} (${health.body})` };
  const metrics = await httpGet(`http://${flags.metricsAddress}/metrics`);
  const failures = /^keel_iptables_restore_failures_total (\d+)/m.exec(metrics.body)?.[1];
  if (failures !== undefined) facts.restoreFailures = Number(failures);
  return facts;
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
async function describeInSandboxNode(name: string, flags: DescribeFlags): Promise<number> {
  const state = readState(flags.runDir);
  if (!state) throw new UsageError(`--node: no sandbox in ${flags.runDir} (start one with \`keel up\`)`);
  const node = state.nodes.find((n) => n === findNode(state, flags.node as string));
  if (!node) throw new UsageError(`--node: no node ${JSON.stringify(flags.node)} (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
  const args = [
    'describe', 'service', name, '-n', flags.namespace,
    '--node-name', node.name, '--node-ip', node.ip, '--cluster-cidr', POD_NETWORK, '--proxy-mode', state.proxyMode,
    '--cluster-domain', flags.clusterDomain, '--etcd-prefix', flags.etcdPrefix, '--iptables-backend', flags.iptablesBackend,
    ...(flags.etcdEndpoints ? ['--etcd-endpoints', flags.etcdEndpoints] : []),
  ];
  const res = await execa('ip', ['netns', 'exec', node.netns, process.execPath, KEEL_BIN, ...args], { stdio: 'inherit', reject: false, env: { KEEL_RUN_DIR: flags.runDir } });
  return res.exitCode ?? 1;
}
