import { namespacedName, type ClusterSnapshot } from '../api/cluster-state.js';
import { isPodReady, type Pod } from '../api/pod.js';
import { hasNodePorts, isHeadless, type Service, type ServicePort } from '../api/service.js';
import type { Rr } from '../dns/records.js';
import { buildRecordIndex } from '../dns/zone-records.js';
import { compileRules, type NodeConfig } from '../proxy-iptables/compile.js';
import { compileService } from '../proxy-iptables/compile-service.js';
import { projectService } from '../service-view/project-service.js';
import type { ServiceView } from '../service-view/service-view.js';
import { renderRestore } from '../proxy-iptables/render-restore.js';
import type { KernelView } from '../proxy-iptables/sync-plan.js';
import { byShownOutcome, tracePacket, type TraceOutcome, type TracePacket } from '../proxy-iptables/trace.js';
import { compileNftables } from '../proxy-nftables/compile.js';
import { compileNftService } from '../proxy-nftables/compile-service.js';
import { TABLE } from '../proxy-nftables/nft-names.js';
import { traceNftPacket } from '../proxy-nftables/nft-trace.js';
import { diffServiceNft, isNftInSync } from './service-nft-diff.js';
import { matchesSelector } from '../api/label-selector.js';
import { diffServiceRules, isInSync, type ServiceRulesDiff } from './service-rules-diff.js';
import { columns, field, section } from './report-text.js';

/** One IP family as the node runs it: its tables are separate (iptables-save / ip6tables-save, `ip keel` / `ip6 keel`). */
export interface FamilyFacts {
  config: NodeConfig;
  /** keel's chains in this family's tables of the node's kernel; undefined when they were not read. */
  kernel?: KernelView;
  /** nftables mode: `nft list table` of keel's table of this family ('' when the kernel has none); undefined when not read. */
  nftKernel?: string;
}

/** What describe knows about the node it looks from, beyond the snapshot. */
export interface NodeFacts {
  /** Each family the node runs, the primary first (its config names the node). */
  families: readonly [FamilyFacts, ...FamilyFacts[]];
  proxyMode: string;
  /** The agent's /healthz answer, or why there was none. */
  agent?: { state: 'healthy' | 'unhealthy' | 'unreachable'; text: string };
  /** `keel_iptables_restore_failures_total` from the agent's /metrics. */
  restoreFailures?: number;
}

export interface ServiceReportInput {
  snapshot: ClusterSnapshot;
  namespace: string;
  name: string;
  clusterDomain: string;
  node?: NodeFacts;
}

interface EndpointRow {
  ip: string;
  ready: boolean;
  /** yes, no, or no (terminating, serving) as EndpointSlice conditions say it. */
  state: string;
  node: string;
  pod: string;
  ports: string;
}

/** `keel describe service`: everything that decides whether the service works, and plain causes when it does not. */
export function describeService(input: ServiceReportInput): string {
  const { snapshot, namespace, name } = input;
  const key = namespacedName(namespace, name);
  const svc = snapshot.services.get(key);
  if (!svc) throw new Error(`describeService: ${key} is not in the snapshot`);
  const eps = snapshot.endpoints.get(key);
  // With EndpointSlices as the source (--endpoints-source), the service's slices, as the agent reads them.
  const slices = snapshot.endpointSlices ? (snapshot.endpointSlices.get(key) ?? []) : undefined;
  const listed = slices ? slices.length > 0 : eps !== undefined;
  const pods = [...snapshot.pods.values()].filter((p) => p.metadata.namespace === namespace);
  const selector = svc.spec.selector ?? {};
  const hasSelector = Object.keys(selector).length > 0;
  const matching = hasSelector ? pods.filter((p) => matchesSelector({ matchLabels: selector }, p.metadata.labels)) : [];
  const ready = matching.filter(isPodReady);
  // Endpoint resolution is the service view's, the same the proxies and DNS program from.
  const nodeName = input.node?.families[0].config.nodeName;
  const view = slices ? projectService(svc, undefined, nodeName, slices) : projectService(svc, eps, nodeName);
  const rows = endpointRows(view, pods);
  const problems: string[] = [];

  const out: string[] = [
    field('Name', name),
    field('Namespace', namespace),
    field('Labels', mapText(svc.metadata.labels)),
    field(
      'Selector',
      hasSelector
        ? `${mapText(selector)} (${matching.length} pod${matching.length === 1 ? '' : 's'} match, ${ready.length} ready)`
        : '<none> (endpoints are written by hand)',
    ),
    field('Type', svc.spec.type),
  ];
  if (svc.spec.type === 'ExternalName') out.push(field('External Name', svc.spec.externalName ?? '<none>'));
  else out.push(field('IP', svc.spec.clusterIP ?? '<pending>'), field('IPs', (svc.spec.clusterIPs ?? []).join(',') || '<none>'));
  out.push(field('External IPs', (svc.spec.externalIPs ?? []).join(',') || '<none>'));
  if (svc.spec.type === 'LoadBalancer')
    out.push(
      field('LoadBalancer Ingress', (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname).join(',') || '<pending>'),
    );
  out.push(field('Session Affinity', svc.spec.sessionAffinity));
  if (isExternal(svc)) out.push(field('External Traffic Policy', svc.spec.externalTrafficPolicy ?? 'Cluster'));
  out.push(field('Internal Traffic Policy', svc.spec.internalTrafficPolicy ?? 'Cluster'));
  for (const port of svc.spec.ports) {
    out.push(field('Port', `${port.name ?? '<unset>'}  ${port.port}/${port.protocol}`));
    out.push(field('TargetPort', `${port.targetPort}/${port.protocol}${targetsText(view, port)}`));
    if (hasNodePorts(svc) && port.nodePort) out.push(field('NodePort', `${port.name ?? '<unset>'}  ${port.nodePort}/${port.protocol}`));
    if (typeof port.targetPort === 'string') {
      const lacking = matching.filter((p) => !podHasPort(p, port.targetPort as string, port));
      if (lacking.length)
        problems.push(
          `port ${port.name ?? port.port}: targetPort "${port.targetPort}" is not a ${port.protocol} container port of pod${lacking.length === 1 ? '' : 's'} ${lacking.map((p) => p.metadata.name).join(', ')}, so ${lacking.length === 1 ? 'it is' : 'they are'} left out of the endpoints`,
        );
    }
  }
  out.push(...section('DNS', dnsLines(snapshot, svc, input.clusterDomain)));
  out.push(
    ...section(
      'Endpoints',
      rows.length
        ? columns(
            ['ADDRESS', 'READY', 'NODE', 'POD', 'PORTS'],
            rows.map((r) => [r.ip, r.state, r.node, r.pod, r.ports]),
          )
        : ['<none>'],
    ),
  );

  if (svc.spec.type !== 'ExternalName') {
    if (hasSelector && matching.length === 0) problems.push(`selector ${mapText(selector)} matches no pods in namespace ${namespace}`);
    else if (hasSelector && ready.length === 0)
      problems.push(
        `${matching.length} pod${matching.length === 1 ? '' : 's'} match${matching.length === 1 ? 'es' : ''} the selector but none is ready (${matching.map((p) => `${p.metadata.name}: ${p.status?.phase ?? 'Pending'}`).join(', ')})`,
      );
    const what = slices ? 'EndpointSlice' : 'Endpoints object';
    const controller = slices ? 'endpointslice controller' : 'endpoints controller';
    if (!listed && (!hasSelector || ready.length > 0))
      problems.push(
        `there is no ${what} ${slices ? `labelled kubernetes.io/service-name=${name} in ${namespace}` : `${namespace}/${name}`}${hasSelector ? ` (is the ${controller} running?)` : ''}`,
      );
    else if (listed && rows.every((r) => !r.ready) && ready.length > 0)
      problems.push(
        `${ready.length} ready pod${ready.length === 1 ? '' : 's'} match, yet the ${slices ? 'EndpointSlices list' : 'Endpoints object lists'} no ready address (is the ${controller} behind?)`,
      );
  }
  for (const f of view.ignoredFields) problems.push(`${f.field} ${JSON.stringify(f.value)} ${f.reason}; the proxies leave it out`);
  if (view.loadBalancerSourceRangesInvalid)
    problems.push('no loadBalancerSourceRanges entry is a CIDR, so the load balancer IPs accept no source');
  if (input.node) out.push(...nodeSection(input, svc, view, rows, problems));
  out.push(...section('Problems', problems.length ? problems.map((p) => `- ${p}`) : ['none found']));
  return `${out.join('\n')}\n`;
}

function nodeSection(input: ServiceReportInput, svc: Service, view: ServiceView, rows: EndpointRow[], problems: string[]): string[] {
  const node = input.node as NodeFacts;
  const nodeName = node.families[0].config.nodeName;
  const lines: string[] = [];
  if (isExternal(svc) && svc.spec.externalTrafficPolicy === 'Local' && !rows.some((r) => r.ready && r.node === nodeName)) {
    problems.push(
      `externalTrafficPolicy is Local and no ready endpoint runs on ${nodeName}: NodePort and external traffic arriving at ${nodeName} is dropped`,
    );
  }
  if (node.agent) {
    lines.push(field('Agent', `${node.agent.state === 'healthy' ? 'healthy' : node.agent.state.toUpperCase()}: ${node.agent.text}`));
    if (node.restoreFailures !== undefined) lines.push(field('Restore failures', String(node.restoreFailures)));
  }
  if (node.proxyMode !== 'iptables' && node.proxyMode !== 'nftables') {
    lines.push(field('Rules', `proxy mode ${node.proxyMode}: rule comparison covers iptables and nftables modes only`));
    return section(`Node ${nodeName}`, lines);
  }
  const families = comparedFamilies(node, view);
  for (const fam of families) {
    const familyLines: string[] = [];
    const familyProblems: string[] = [];
    if (node.proxyMode === 'nftables') familyLines.push(...nftLines(input, fam, view, familyProblems));
    else familyLines.push(...iptablesLines(input, fam, view, familyProblems));
    if (families.length === 1) {
      lines.push(...familyLines);
      problems.push(...familyProblems.map((p) => outOfSync(node, nodeName, p)));
      continue;
    }
    // Two families are two rulesets in the kernel: each compared and shown under its own heading.
    const name = `IPv${fam.config.family ?? 4}`;
    lines.push(`${name} (${familyTables(node.proxyMode, fam.config)}):`, ...familyLines.map((l) => `  ${l}`));
    problems.push(...familyProblems.map((p) => outOfSync(node, nodeName, `${name}: ${p}`)));
  }
  return section(`Node ${nodeName}`, lines);
}

/**
 * The families whose rules hold this service: those of its ClusterIPs the
 * node runs. A service without ClusterIPs (headless, ExternalName) is looked
 * at in the node's primary family, where its absence shows.
 */
function comparedFamilies(node: NodeFacts, view: ServiceView): FamilyFacts[] {
  const own = node.families.filter((f) => view.clusterIPs.some((ip) => ip.family === (f.config.family ?? 4)));
  return own.length ? own : [node.families[0]];
}

function familyTables(proxyMode: string, config: NodeConfig): string {
  if (proxyMode === 'nftables') return `table ${config.family === 6 ? 'ip6' : 'ip'} ${TABLE}`;
  return config.family === 6 ? 'ip6tables' : 'iptables';
}

/** iptables mode, one family: the service's chains and rules in the kernel's tables against the wanted ones, and a trace. */
function iptablesLines(input: ServiceReportInput, fam: FamilyFacts, view: ServiceView, problems: string[]): string[] {
  const lines: string[] = [];
  const fragment = compileService(view, fam.config);
  if (fam.kernel) {
    const diff = diffServiceRules(
      fragment,
      fam.kernel,
      fragment.ports.map((p) => p.spn),
    );
    lines.push(...chainLines(diff, fam.config.family === 6 ? 'ip6tables-restore' : 'iptables-restore'));
    if (!isInSync(diff)) problems.push(summary(diff));
  } else {
    lines.push(field('Chains', `${fragment.natChains.map((c) => c.name).join(', ') || '<none>'} (kernel not read)`));
  }
  const text = renderRestore(compileRules(input.snapshot, fam.config));
  lines.push(...traceLines(fragment.ports, fam.config, (pkt) => tracePacket(text, pkt, fam.config.nodeIPs ?? [])));
  return lines;
}

/** nftables mode, one family: the service's chains, sets and map elements in the kernel's table against the wanted ones. */
function nftLines(input: ServiceReportInput, fam: FamilyFacts, view: ServiceView, problems: string[]): string[] {
  const fragment = compileNftService(view, fam.config);
  const family = fam.config.family === 6 ? 'ip6' : 'ip';
  const lines: string[] = [];
  if (fam.nftKernel === undefined) {
    lines.push(field('Chains', `${fragment.chains.map((c) => c.name).join(', ') || '<none>'} (kernel not read)`));
  } else {
    const diff = diffServiceNft(fragment, family, TABLE, fam.nftKernel);
    lines.push(`Table ${family} ${TABLE}${fam.nftKernel ? '' : ' (not in the kernel)'}:`);
    for (const o of diff.objects)
      lines.push(`  ${o.kind} ${o.name}: ${o.rules} ${o.kind === 'chain' ? 'rules' : 'elements'}, ${stateText(o.state)}`);
    for (const e of diff.elements) lines.push(`  ${e.kind} ${e.set}: ${e.text}, ${stateText(e.state)}`);
    for (const l of diff.extraElements) lines.push(`in the kernel, not wanted: ${l}`);
    if (diff.diffText)
      lines.push(
        'A sync would change (- kernel, + wanted):',
        ...diff.diffText
          .trimEnd()
          .split('\n')
          .map((l) => `  ${l}`),
      );
    if (!isNftInSync(diff)) {
      const count = (st: string): number => diff.objects.filter((o) => o.state === st).length;
      problems.push(
        counted([
          [count('differs'), 'object differs', 'objects differ'],
          [count('missing'), 'object missing', 'objects missing'],
          [count('stale'), 'stale object', 'stale objects'],
          [diff.elements.filter((e) => e.state === 'missing').length, 'element missing', 'elements missing'],
          [diff.extraElements.length, 'unwanted element', 'unwanted elements'],
        ]),
      );
    }
  }
  const table = compileNftables(input.snapshot, fam.config);
  lines.push(...traceLines(fragment.ports, fam.config, (pkt) => traceNftPacket(table, pkt, fam.config.nodeIPs ?? [])));
  return lines;
}

function outOfSync(node: NodeFacts, nodeName: string, what: string): string {
  const agent = node.agent ? `; agent ${node.agent.state}: ${node.agent.text}` : '';
  const tool = node.proxyMode === 'nftables' ? 'nft' : 'iptables-restore';
  const failures = node.restoreFailures ? `; ${node.restoreFailures} ${tool} failure${node.restoreFailures === 1 ? '' : 's'} so far` : '';
  return `the kernel of ${nodeName} does not hold the rules keel wants for this service (${what})${agent}${failures}`;
}

/** Where a first packet from a pod to each service port ends, with its probability. */
function traceLines(
  ports: readonly { clusterIP: string; port: number; protocol: string }[],
  config: NodeConfig,
  trace: (pkt: TracePacket) => TraceOutcome[],
): string[] {
  const lines: string[] = [];
  for (const port of ports) {
    const outcomes = trace({
      src: traceSource(config),
      dst: port.clusterIP,
      dport: port.port,
      protocol: port.protocol.toLowerCase() as 'tcp' | 'udp' | 'sctp',
      from: 'pod',
    });
    const host = port.clusterIP.includes(':') ? `[${port.clusterIP}]` : port.clusterIP;
    lines.push(`From a pod to ${host}:${port.port}/${port.protocol}:`);
    for (const o of byShownOutcome(outcomes))
      lines.push(`  ${o.verdict} p=${o.probability.toFixed(3)}${o.masquerade ? ' masquerade' : ''}`);
  }
  return lines;
}

function chainLines(diff: ServiceRulesDiff, restoreTool: string): string[] {
  const lines = diff.chains.map((c) => `  ${c.name.padEnd(24)} ${String(c.rules).padStart(2)} rules  ${stateText(c.state)}`);
  lines.unshift('Chains (nat):');
  for (const l of diff.missingLines) lines.push(`missing from the kernel: ${l}`);
  for (const l of diff.extraLines) lines.push(`in the kernel, not wanted: ${l}`);
  if (diff.restoreText)
    lines.push(
      `A sync would load (${restoreTool} --noflush):`,
      ...diff.restoreText
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`),
    );
  return lines;
}

function stateText(s: ServiceRulesDiff['chains'][number]['state']): string {
  return {
    same: 'in the kernel as wanted',
    differs: 'DIFFERS in the kernel',
    missing: 'MISSING from the kernel',
    stale: 'STALE in the kernel (no longer wanted)',
  }[s];
}

function summary(d: ServiceRulesDiff): string {
  const count = (s: string): number => d.chains.filter((c) => c.state === s).length;
  return counted([
    [count('differs'), 'chain differs', 'chains differ'],
    [count('missing'), 'chain missing', 'chains missing'],
    [count('stale'), 'stale chain', 'stale chains'],
    [d.missingLines.length, 'rule missing', 'rules missing'],
    [d.extraLines.length, 'unwanted rule', 'unwanted rules'],
  ]);
}

/** `1 chain differs, 2 chains missing`: the counts that are not zero. */
function counted(parts: readonly (readonly [number, string, string])[]): string {
  return parts
    .filter(([n]) => n > 0)
    .map(([n, one, many]) => `${n} ${n === 1 ? one : many}`)
    .join(', ');
}

/** A pod address no endpoint uses is not needed: probabilities do not depend on the source. */
function traceSource(config: NodeConfig): string {
  return config.clusterCidr ? config.clusterCidr.replace(/\.\d+\/\d+$/, '.1').replace(/\/\d+$/, '') : '10.244.0.1';
}

function isExternal(svc: Service): boolean {
  return hasNodePorts(svc) || (svc.spec.externalIPs ?? []).length > 0 || (svc.status?.loadBalancer?.ingress ?? []).length > 0;
}

function endpointRows(view: ServiceView, pods: readonly Pod[]): EndpointRow[] {
  const rows: EndpointRow[] = [];
  for (const g of view.endpointGroups) {
    const ports = g.ports.map((p) => `${p.name ? `${p.name}=` : ''}${p.port}/${p.protocol}`).join(',') || '<none>';
    for (const e of g.endpoints) {
      const pod = pods.find((p) => p.status?.podIP === e.ip.text)?.metadata.name ?? '<none>';
      const state = e.ready ? 'yes' : e.terminating ? `no (terminating${e.serving ? ', serving' : ''})` : 'no';
      rows.push({ ip: e.ip.text, ready: e.ready, state, node: e.nodeName ?? '<none>', pod, ports });
    }
  }
  return rows;
}

/** Where each endpoint receives this service port: the view resolves a named targetPort per endpoint. */
function targetsText(view: ServiceView, port: ServicePort): string {
  const pv = view.ports.find((p) => p.port === port.port && p.protocol === port.protocol);
  const out = (pv?.endpoints ?? []).map((e) => `${e.address}${e.ready ? '' : ' (not ready)'}`);
  return out.length ? ` -> ${out.join(', ')}` : '';
}

function podHasPort(pod: Pod, name: string, port: ServicePort): boolean {
  return pod.spec.containers.some((c) => (c.ports ?? []).some((p) => p.name === name && p.protocol === port.protocol));
}

/** The names keel's DNS answers for this service, from the same record index the DNS server builds. */
function dnsLines(snapshot: ClusterSnapshot, svc: Service, zone: string): string[] {
  const key = namespacedName(svc.metadata.namespace, svc.metadata.name);
  const eps = snapshot.endpoints.get(key);
  const slices = snapshot.endpointSlices?.get(key);
  const only: ClusterSnapshot = {
    revision: 0,
    services: new Map([[key, svc]]),
    endpoints: eps ? new Map([[key, eps]]) : new Map(),
    ...(snapshot.endpointSlices ? { endpointSlices: new Map(slices ? [[key, slices]] : []) } : {}),
    pods: new Map(),
  };
  const index = buildRecordIndex(only, { zone, ttl: 30, serviceCidrs: [], podCidrs: [] });
  const base = `${svc.metadata.name}.${svc.metadata.namespace}.svc.${index.clusterZone}`;
  const lines: string[] = [];
  for (const [name, node] of [...index.names].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (name !== base && !name.endsWith(`.${base}`)) continue;
    for (const rrs of node.values()) for (const rr of rrs) lines.push(`${rr.name} ${rr.type} ${rrData(rr)}`);
  }
  if (lines.length === 0) lines.push(isHeadless(svc) ? `${base}: no ready addresses, NXDOMAIN-free but empty` : `${base}: no records`);
  return lines;
}

function rrData(rr: Rr): string {
  if (rr.type === 'SRV') return `${rr.data.priority} ${rr.data.weight} ${rr.data.port} ${rr.data.target}`;
  if (rr.type === 'TXT') return rr.data.join(' ');
  if (rr.type === 'SOA') return rr.data.mname;
  return rr.data;
}

function mapText(m: Record<string, string> | undefined): string {
  const e = Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}
