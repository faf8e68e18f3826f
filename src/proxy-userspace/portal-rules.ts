import type { ClusterSnapshot } from '../api/cluster-state.js';
import { quote } from '../kernel/iptables/parse-restore.js';
import { serviceViewsOf } from '../service-view/service-views.js';
import { servicePortals, type PortalName, type PortalSkipped, type ServicePortal } from './service-portals.js';

/**
 * The nat chains of kube-proxy's userspace mode. CONTAINER chains catch
 * traffic arriving from pods and other hosts (PREROUTING) and REDIRECT it to
 * the proxy's port; HOST chains catch the node's own traffic (OUTPUT), which
 * REDIRECT cannot serve, and DNAT it to nodeIP:proxyPort.
 */
export const PORTAL_CHAINS = ['KUBE-PORTALS-CONTAINER', 'KUBE-PORTALS-HOST', 'KUBE-NODEPORT-CONTAINER', 'KUBE-NODEPORT-HOST'] as const;
export type PortalChain = (typeof PORTAL_CHAINS)[number];

const NODEPORT_JUMP =
  '-m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain"';

/** The jumps from the built-in chains, as iptables-save prints them (portals first, NodePorts last). */
export const PORTAL_JUMPS: readonly string[] = [
  '-A PREROUTING -m comment --comment "handle ClusterIP services" -j KUBE-PORTALS-CONTAINER',
  `-A PREROUTING ${NODEPORT_JUMP} -j KUBE-NODEPORT-CONTAINER`,
  '-A OUTPUT -m comment --comment "handle ClusterIP services" -j KUBE-PORTALS-HOST',
  `-A OUTPUT ${NODEPORT_JUMP} -j KUBE-NODEPORT-HOST`,
];

export interface PortalNode {
  /** The node's own IP: HOST chains DNAT to nodeIP:proxyPort, where the proxy listens (on 0.0.0.0). */
  readonly nodeIP: string;
}

/** Which local port serves each service port; portals without one get no rules yet. */
export type ProxyPortMap = ReadonlyMap<PortalName, number>;

export interface PortalRuleSet {
  /** Rule lines per chain (`-A CHAIN …`), in iptables-save form. */
  readonly chains: Readonly<Record<PortalChain, readonly string[]>>;
}

export function compilePortalRules(portals: readonly ServicePortal[], node: PortalNode, proxyPorts: ProxyPortMap): PortalRuleSet {
  const chains: Record<PortalChain, string[]> = {
    'KUBE-PORTALS-CONTAINER': [],
    'KUBE-PORTALS-HOST': [],
    'KUBE-NODEPORT-CONTAINER': [],
    'KUBE-NODEPORT-HOST': [],
  };
  for (const p of portals) {
    const proxyPort = proxyPorts.get(p.name);
    if (proxyPort === undefined) continue;
    const proto = p.protocol.toLowerCase();
    const redirect = `-j REDIRECT --to-ports ${proxyPort}`;
    const dnat = `-j DNAT --to-destination ${node.nodeIP}:${proxyPort}`;
    const match = (dport: number): string => `-p ${proto} -m comment --comment ${quote(p.name)} -m ${proto} --dport ${dport}`;
    for (const ip of [p.clusterIP, ...p.externalIPs]) {
      chains['KUBE-PORTALS-CONTAINER'].push(`-A KUBE-PORTALS-CONTAINER -d ${ip}/32 ${match(p.port)} ${redirect}`);
      chains['KUBE-PORTALS-HOST'].push(`-A KUBE-PORTALS-HOST -d ${ip}/32 ${match(p.port)} ${dnat}`);
    }
    if (p.nodePort !== undefined) {
      chains['KUBE-NODEPORT-CONTAINER'].push(`-A KUBE-NODEPORT-CONTAINER ${match(p.nodePort)} ${redirect}`);
      chains['KUBE-NODEPORT-HOST'].push(`-A KUBE-NODEPORT-HOST ${match(p.nodePort)} ${dnat}`);
    }
  }
  return { chains };
}

export interface RenderOptions {
  /** Jump lines already in the kernel (from `existingPortalJumps`); only the missing ones are written. */
  readonly presentJumps?: ReadonlySet<string>;
}

/**
 * iptables-restore input for `--noflush`: declaring the four chains flushes
 * and refills them, so one restore replaces every portal rule atomically
 * while other owners' chains in nat stay untouched.
 */
export function renderPortalRestore(rules: PortalRuleSet, opts: RenderOptions = {}): string {
  const lines = ['*nat', ...PORTAL_CHAINS.map((c) => `:${c} - [0:0]`)];
  lines.push(...PORTAL_JUMPS.filter((j) => !opts.presentJumps?.has(j)));
  for (const c of PORTAL_CHAINS) lines.push(...rules.chains[c]);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The portal jumps an iptables-save dump of nat already holds. */
export function existingPortalJumps(savedNat: string): Set<string> {
  const present = new Set(savedNat.split('\n').map((l) => l.trim()));
  return new Set(PORTAL_JUMPS.filter((j) => present.has(j)));
}

/** Whether the dump already holds exactly these rules and jumps: then no restore is needed. */
export function portalRulesMatch(savedNat: string, rules: PortalRuleSet): boolean {
  const lines = savedNat.split('\n').map((l) => l.trim());
  if (existingPortalJumps(savedNat).size !== PORTAL_JUMPS.length) return false;
  return PORTAL_CHAINS.every((c) => {
    if (!lines.includes(`:${c} - [0:0]`)) return false;
    const held = lines.filter((l) => l.startsWith(`-A ${c} `));
    const want = rules.chains[c];
    return held.length === want.length && held.every((l, i) => l === want[i]);
  });
}

/** Removes keel's portal jumps and chains, given what the kernel holds (for `--cleanup` and shutdown). */
export function renderPortalCleanup(savedNat: string): string | undefined {
  const lines = savedNat.split('\n').map((l) => l.trim());
  const chains = PORTAL_CHAINS.filter((c) => lines.includes(`:${c} - [0:0]`));
  const jumps = [...existingPortalJumps(savedNat)];
  if (chains.length === 0 && jumps.length === 0) return undefined;
  return [
    '*nat',
    ...jumps.map((j) => j.replace(/^-A /, '-D ')),
    ...chains.map((c) => `-F ${c}`),
    ...chains.map((c) => `-X ${c}`),
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * The whole userspace-mode nat table as `keel rules --mode userspace`
 * prints it: a pure function of the snapshot, the node and the port map.
 */
export function compileUserspaceRules(
  snapshot: ClusterSnapshot,
  node: PortalNode,
  proxyPorts: ProxyPortMap,
): { text: string; skipped: PortalSkipped[] } {
  const { portals, skipped } = servicePortals(serviceViewsOf(snapshot));
  return { text: renderPortalRestore(compilePortalRules(portals, node, proxyPorts)), skipped };
}
