import { namespacedName, type ClusterSnapshot } from '../api/cluster-state.js';
import type { EndpointAddress } from '../api/endpoints.js';
import { isPodReady, type Pod } from '../api/pod.js';
import type { Service } from '../api/service.js';
import { leaseFamilies, type Lease } from '../overlay/lease.js';

export interface ClusterGraphInput {
  sandbox: { id: string; proxyMode: string; backend: string };
  /** In the order to draw them, with their underlay IPs (one per family); `agent` is what `keel status` found (healthy, stopped…). */
  nodes: readonly { name: string; ips: readonly string[]; agent?: string }[];
  leases: readonly Lease[];
  snapshot: ClusterSnapshot;
}

/**
 * The cluster as Graphviz DOT text: one box per node (its underlay IP and
 * leased pod subnet) holding its pods and its NodePorts, services beside
 * them with an edge to each endpoint. Pure and byte-stable: everything is
 * emitted in sorted order, so the same cluster always gives the same text.
 */
export function clusterGraph(input: ClusterGraphInput): string {
  const { snapshot } = input;
  const pods = sortedValues(snapshot.pods);
  const services = sortedValues(snapshot.services);
  const nodePortServices = services.filter((s) => s.spec.ports.some((p) => p.nodePort));
  const nodeNames = new Set(input.nodes.map((n) => n.name));
  const out: string[] = [
    'digraph keel {',
    `  graph [rankdir=LR, compound=true, fontname="sans-serif", fontsize=12, labelloc=t, label=${label([`keel sandbox ${input.sandbox.id}: proxy ${input.sandbox.proxyMode}, backend ${input.sandbox.backend}`])}];`,
    '  node [fontname="sans-serif", fontsize=11, shape=box, style="rounded,filled", fillcolor=white];',
    '  edge [fontname="sans-serif", fontsize=10];',
  ];

  for (const [i, node] of input.nodes.entries()) {
    const subnets = input.leases
      .filter((l) => isNodeLease(node.ips, l))
      .flatMap((l) => leaseFamilies(l).subnets.map((s) => `pods ${s}`))
      .sort();
    out.push(`  subgraph cluster_${i} {`);
    out.push(
      `    label=${label([node.name, ...node.ips, ...subnets, ...(node.agent ? [`agent ${node.agent}`] : [])])}; style="rounded,filled"; fillcolor="#eef2f7";`,
    );
    out.push(`    ${id(`node/${node.name}`)} [shape=point, style=invis];`);
    for (const pod of pods.filter((p) => p.spec.nodeName === node.name)) out.push(`    ${podVertex(pod)}`);
    for (const svc of nodePortServices) {
      for (const port of nodePorts(svc)) {
        out.push(
          `    ${id(nodePortId(node.name, svc, port))} [shape=cds, fillcolor="#fff4d6", label=${label(node.ips.map((ip) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`)))}];`,
        );
      }
    }
    out.push('  }');
  }
  for (const pod of pods.filter((p) => !p.spec.nodeName || !nodeNames.has(p.spec.nodeName))) out.push(`  ${podVertex(pod)}`);
  // A lease whose public IP is no known node's (a node outside the sandbox, or a stale lease).
  for (const lease of [...input.leases]
    .filter((l) => !input.nodes.some((n) => isNodeLease(n.ips, l)))
    .sort((a, b) => cmp(a.subnet.text, b.subnet.text))) {
    out.push(
      `  ${id(`lease/${lease.subnet.text}`)} [shape=note, label=${label([`subnet ${lease.subnet.text}`, `via ${lease.attrs.publicIp.text}`])}];`,
    );
  }

  const podsByIp = new Map(
    pods.flatMap((p) =>
      [...new Set([p.status?.podIP, ...(p.status?.podIPs ?? []).map((a) => a.ip)])].flatMap((ip) => (ip ? [[ip, p] as const] : [])),
    ),
  );
  const loose = new Set<string>();
  for (const svc of services) {
    const sid = id(`svc/${key(svc)}`);
    out.push(`  ${sid} [shape=ellipse, fillcolor="#dbeafe", label=${label(serviceLines(svc))}];`);
    for (const node of input.nodes) {
      for (const port of nodePorts(svc)) out.push(`  ${id(nodePortId(node.name, svc, port))} -> ${sid} [style=dashed];`);
    }
    const targets = endpointTargets(snapshot, svc);
    targets.sort((a, b) => cmp(a.address.ip, b.address.ip) || cmp(a.ports, b.ports));
    for (const t of targets) {
      const pod = targetPod(t.address, svc.metadata.namespace, snapshot, podsByIp);
      const nodeIndex = input.nodes.findIndex((n) => n.ips.includes(t.address.ip));
      let to: string;
      let attrs = '';
      if (pod) {
        to = id(`pod/${key(pod)}`);
      } else if (nodeIndex >= 0) {
        // A host-network endpoint (the agents' cluster DNS): the edge ends at the node's box.
        to = id(`node/${input.nodes[nodeIndex]!.name}`);
        attrs = `, lhead=cluster_${nodeIndex}`;
      } else {
        to = id(`ip/${t.address.ip}`);
        if (!loose.has(t.address.ip)) out.push(`  ${to} [shape=box, style=dashed, label=${label([t.address.ip])}];`);
        loose.add(t.address.ip);
      }
      out.push(
        `  ${sid} -> ${to} [label=${label([t.ready ? t.ports : `${t.ports} not ready`])}${t.ready ? '' : ', style=dashed'}${attrs}];`,
      );
    }
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

function podVertex(pod: Pod): string {
  const ready = isPodReady(pod);
  const lines = [
    pod.metadata.namespace === 'default' ? pod.metadata.name : key(pod),
    pod.status?.podIP ?? 'no IP',
    // What the sandbox runs for the pod's images (containerStatuses[].imageID), as in `keel get pods -o wide`.
    ...(pod.status?.containerStatuses ?? []).flatMap((c) => (c.imageID ? [c.imageID] : [])),
    ...(ready ? [] : ['not ready']),
  ];
  return `${id(`pod/${key(pod)}`)} [fillcolor="${ready ? '#dcfce7' : '#fee2e2'}", label=${label(lines)}];`;
}

function serviceLines(svc: Service): string[] {
  const name = svc.metadata.namespace === 'default' ? svc.metadata.name : key(svc);
  const ports = svc.spec.ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`).join(', ');
  const address =
    svc.spec.type === 'ExternalName'
      ? `ExternalName ${svc.spec.externalName ?? ''}`
      : `${svc.spec.type} ${svc.spec.clusterIP ?? 'no IP yet'}`;
  return [name, address, ...(ports ? [ports] : [])];
}

/**
 * A service's endpoints as the agent reads them: its EndpointSlices when the
 * snapshot carries them (--endpoints-source), else its v1 Endpoints.
 */
function endpointTargets(snapshot: ClusterSnapshot, svc: Service): { address: EndpointAddress; ready: boolean; ports: string }[] {
  const key = namespacedName(svc.metadata.namespace, svc.metadata.name);
  const portsText = (ports: readonly { port?: number; protocol: string }[]): string =>
    ports
      .flatMap((p) => (p.port === undefined ? [] : [`${p.port}/${p.protocol}`]))
      .sort()
      .join(',');
  if (snapshot.endpointSlices) {
    return (snapshot.endpointSlices.get(key) ?? []).flatMap((slice) =>
      slice.endpoints.flatMap((e) => {
        const ip = e.addresses[0];
        if (ip === undefined) return [];
        const address: EndpointAddress = {
          ip,
          ...(e.nodeName ? { nodeName: e.nodeName } : {}),
          ...(e.targetRef ? { targetRef: e.targetRef } : {}),
        };
        return [{ address, ready: e.conditions.ready !== false, ports: portsText(slice.ports) }];
      }),
    );
  }
  return (snapshot.endpoints.get(key)?.subsets ?? []).flatMap((subset) => {
    const ports = portsText(subset.ports);
    return [
      ...subset.addresses.map((address) => ({ address, ready: true, ports })),
      ...subset.notReadyAddresses.map((address) => ({ address, ready: false, ports })),
    ];
  });
}

/** The pod an endpoint address names (targetRef, as the endpoints controller writes it), else the pod holding its IP. */
function targetPod(
  address: EndpointAddress,
  namespace: string,
  snapshot: ClusterSnapshot,
  podsByIp: ReadonlyMap<string, Pod>,
): Pod | undefined {
  const ref = address.targetRef;
  if (ref?.kind === 'Pod' && ref.name) {
    const pod = snapshot.pods.get(namespacedName(ref.namespace ?? namespace, ref.name));
    if (pod) return pod;
  }
  return podsByIp.get(address.ip);
}

/** A lease is a node's when its public address of either family is one of the node's (an IPv6-only lease's PublicIP is 0.0.0.0). */
function isNodeLease(ips: readonly string[], lease: Lease): boolean {
  return leaseFamilies(lease).publicIps.some((ip) => ips.includes(ip));
}

function nodePorts(svc: Service): number[] {
  return svc.spec.ports.flatMap((p) => (p.nodePort ? [p.nodePort] : []));
}

function nodePortId(node: string, svc: Service, port: number): string {
  return `nodeport/${node}/${key(svc)}/${port}`;
}

function key(o: Pod | Service): string {
  return `${o.metadata.namespace}/${o.metadata.name}`;
}

function sortedValues<T>(m: ReadonlyMap<string, T>): T[] {
  return [...m.entries()].sort(([a], [b]) => cmp(a, b)).map(([, v]) => v);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A DOT quoted string: backslash and quote escaped, so no name can end the string or inject attributes. */
function id(s: string): string {
  return `"${escape(s)}"`;
}

/** A multi-line label: each line escaped, then joined with DOT's centred line break. */
function label(lines: readonly string[]): string {
  return `"${lines.map(escape).join('\\n')}"`;
}

function escape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, ' ');
}
