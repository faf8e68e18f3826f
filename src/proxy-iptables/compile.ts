import type { ClusterSnapshot } from '../api/cluster-state.js';
import { serviceViewsOf } from '../service-view/service-views.js';
import { compileService, type ChainRules, type NodeConfig, type ServicePortInfo, type ServiceRules } from './compile-service.js';
import { comment, hostCidr, markHex, rule } from './rule-text.js';

export type { ChainRules, NodeConfig, ServicePortInfo, ServiceRules } from './compile-service.js';

/** A rule keel places in a built-in chain (PREROUTING, INPUT, …) to reach its own chains. */
export interface JumpRule {
  readonly chain: string;
  readonly rule: string;
}

export interface TableRules {
  /** Every chain keel owns in the table, top-level chains first, then service chains in name order. */
  readonly chains: readonly ChainRules[];
  readonly jumps: readonly JumpRule[];
}

export interface RuleSet {
  readonly nat: TableRules;
  readonly filter: TableRules;
  readonly ports: readonly ServicePortInfo[];
}

export const DEFAULT_MASQUERADE_BIT = 14;

/** Same snapshot and node, byte-identical rules: services are visited in key order. */
export function compileRules(snapshot: ClusterSnapshot, node: NodeConfig): RuleSet {
  return assembleRuleSet(
    serviceViewsOf(snapshot, node.nodeName).map((view) => compileService(view, node)),
    node,
  );
}

/** Joins per-service fragments (already in key order) with keel's fixed chains. */
export function assembleRuleSet(fragments: readonly ServiceRules[], node: NodeConfig): RuleSet {
  const top = topChains(fragments, node);
  const serviceChains = fragments.flatMap((f) => f.natChains).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const jumps = keelJumps();
  return {
    nat: { chains: [...top.nat, ...serviceChains], jumps: jumps.nat },
    filter: { chains: top.filter, jumps: jumps.filter },
    ports: fragments.flatMap((f) => f.ports),
  };
}

/** The chains every service contributes rules to, in both tables (what a partial sync compares besides the changed services' own chains). */
export function topChains(fragments: readonly ServiceRules[], node: NodeConfig): { nat: ChainRules[]; filter: ChainRules[] } {
  const mark = markHex(node.masqueradeBit);
  const pick = (f: (s: ServiceRules) => string[]): string[] => fragments.flatMap(f);
  const natServices = pick((f) => f.natServices);
  natServices.push(...nodePortTail(node));
  const forward = [
    rule(...comment('kubernetes forwarding rules'), '-m', 'mark', '--mark', `${mark}/${mark}`, '-j', 'ACCEPT'),
    rule(...comment('kubernetes forwarding conntrack rule'), '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'),
  ];
  // kube-proxy proxier.go syncProxyRules: INVALID packets are dropped first (kubernetes#74839: a
  // retransmission conntrack calls INVALID would reach a pod un-DNATed and earn the client an RST),
  // unless nf_conntrack_tcp_be_liberal makes conntrack mark only out-of-window RSTs INVALID.
  if (!node.conntrackTcpLiberal) forward.unshift(rule('-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'));
  return {
    nat: [
      { name: 'KUBE-SERVICES', rules: natServices },
      { name: 'KUBE-NODEPORTS', rules: pick((f) => f.natNodePorts) },
      {
        name: 'KUBE-POSTROUTING',
        rules: [
          rule('-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN'),
          rule('-j', 'MARK', '--set-xmark', `${mark}/0x0`),
          rule(...comment('kubernetes service traffic requiring SNAT'), '-j', 'MASQUERADE', '--random-fully'),
        ],
      },
      { name: 'KUBE-MARK-MASQ', rules: [rule('-j', 'MARK', '--set-xmark', `${mark}/${mark}`)] },
    ],
    filter: [
      { name: 'KUBE-SERVICES', rules: pick((f) => f.filterServices) },
      { name: 'KUBE-EXTERNAL-SERVICES', rules: pick((f) => f.filterExternal) },
      { name: 'KUBE-FORWARD', rules: forward },
      { name: 'KUBE-NODEPORTS', rules: pick((f) => f.filterNodePorts) },
      { name: 'KUBE-PROXY-FIREWALL', rules: pick((f) => f.filterFirewall) },
      { name: 'KUBE-FIREWALL', rules: (node.family ?? 4) === 4 && localhostNodePorts(node) ? [LOCALNET_GUARD] : [] },
    ],
  };
}

/**
 * kube-proxy proxier.go syncProxyRules (kubeletFirewallChain): with
 * route_localnet=1 (what makes NodePorts answer on 127.0.0.1) a packet from
 * elsewhere addressed to 127.0.0.0/8 would be routed in; CVE-2020-8558.
 * Written as iptables-save prints it back; IPv4 only (route_localnet has
 * no IPv6 twin, and kube-proxy writes it for IPv4 alone).
 */
const LOCALNET_GUARD = rule(
  '!',
  '-s',
  '127.0.0.0/8',
  '-d',
  '127.0.0.0/8',
  ...comment('block incoming localnet connections'),
  '-m',
  'conntrack',
  '!',
  '--ctstate',
  'RELATED,ESTABLISHED,DNAT',
  '-j',
  'DROP',
);

/** kube-proxy NewProxier: localhost NodePorts only when --nodeport-addresses takes in 127.0.0.1. */
function localhostNodePorts(node: NodeConfig): boolean {
  return node.nodePortAddresses === undefined || node.nodePortAddresses.some((ip) => ip.startsWith('127.'));
}

/**
 * The last rule(s) of nat KUBE-SERVICES (kube-proxy proxier.go, "tail-call to
 * the nodePorts chain"): every local address, or one rule per address
 * --nodeport-addresses picked on this node.
 */
function nodePortTail(node: NodeConfig): string[] {
  const why = comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain');
  if (node.nodePortAddresses === undefined) return [rule(...why, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'KUBE-NODEPORTS')];
  const v6 = node.family === 6;
  return node.nodePortAddresses
    .filter((ip) => ip.includes(':') === v6)
    .map((ip) => rule('-d', hostCidr(ip), ...why, '-j', 'KUBE-NODEPORTS'));
}

/** keel's jumps from the built-in chains, in the order they should appear. */
export function keelJumps(): { nat: JumpRule[]; filter: JumpRule[] } {
  const portals = comment('kubernetes service portals');
  const newConn = ['-m', 'conntrack', '--ctstate', 'NEW'];
  return {
    nat: [
      { chain: 'PREROUTING', rule: rule(...portals, '-j', 'KUBE-SERVICES') },
      { chain: 'OUTPUT', rule: rule(...portals, '-j', 'KUBE-SERVICES') },
      { chain: 'POSTROUTING', rule: rule(...comment('kubernetes postrouting rules'), '-j', 'KUBE-POSTROUTING') },
    ],
    filter: [
      { chain: 'INPUT', rule: rule(...newConn, ...comment('kubernetes load balancer firewall'), '-j', 'KUBE-PROXY-FIREWALL') },
      { chain: 'INPUT', rule: rule(...comment('kubernetes health check service ports'), '-j', 'KUBE-NODEPORTS') },
      {
        chain: 'INPUT',
        rule: rule(...newConn, ...comment('kubernetes externally-visible service portals'), '-j', 'KUBE-EXTERNAL-SERVICES'),
      },
      // kube-proxy iptablesKubeletJumpChains: no comment, no match.
      { chain: 'INPUT', rule: rule('-j', 'KUBE-FIREWALL') },
      { chain: 'FORWARD', rule: rule(...newConn, ...comment('kubernetes load balancer firewall'), '-j', 'KUBE-PROXY-FIREWALL') },
      { chain: 'FORWARD', rule: rule(...comment('kubernetes forwarding rules'), '-j', 'KUBE-FORWARD') },
      { chain: 'FORWARD', rule: rule(...newConn, ...portals, '-j', 'KUBE-SERVICES') },
      {
        chain: 'FORWARD',
        rule: rule(...newConn, ...comment('kubernetes externally-visible service portals'), '-j', 'KUBE-EXTERNAL-SERVICES'),
      },
      { chain: 'OUTPUT', rule: rule(...newConn, ...comment('kubernetes load balancer firewall'), '-j', 'KUBE-PROXY-FIREWALL') },
      { chain: 'OUTPUT', rule: rule(...newConn, ...portals, '-j', 'KUBE-SERVICES') },
      { chain: 'OUTPUT', rule: rule('-j', 'KUBE-FIREWALL') },
    ],
  };
}
