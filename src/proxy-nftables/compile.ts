import type { ClusterSnapshot } from '../api/cluster-state.js';
import type { NodeConfig } from '../proxy-iptables/compile.js';
import { serviceViewsOf } from '../service-view/service-views.js';
import { compileNftService } from './compile-service.js';
import {
  CHAINS,
  CLUSTER_IPS_SET,
  familyWords,
  HAIRPIN_SET,
  MAPS,
  TABLE,
  type FamilyWords,
  type NftFamily,
  type SharedSetName,
} from './nft-names.js';
import type { NftChain, NftElement, NftServiceRules, NftSet, NftTable } from './nft-table.js';

/** Same snapshot and node, byte-identical table: services are visited in key order. `node.family` 6 gives the `ip6 keel` table. */
export function compileNftables(snapshot: ClusterSnapshot, node: NodeConfig): NftTable {
  return assembleTable(
    serviceViewsOf(snapshot, node.nodeName).map((view) => compileNftService(view, node)),
    node,
    familyWords(node.family).table,
  );
}

const PORT_KEY = 'inet_proto . inet_service : verdict';

/** keel's shared sets and maps: what each holds and why (the comments kube-proxy gives them); the family's address type filled in. */
function sharedSets(addr: string): readonly { name: SharedSetName; type: string; map: boolean; comment: string }[] {
  const SERVICE_KEY = `${addr} . inet_proto . inet_service : verdict`;
  return [
    { name: CLUSTER_IPS_SET, type: addr, map: false, comment: 'Active ClusterIPs' },
    {
      name: MAPS.noEndpointServices,
      type: SERVICE_KEY,
      map: true,
      comment: 'vmap to drop or reject packets to services with no endpoints',
    },
    {
      name: MAPS.noEndpointNodePorts,
      type: PORT_KEY,
      map: true,
      comment: 'vmap to drop or reject packets to service nodeports with no endpoints',
    },
    { name: MAPS.firewallIPs, type: SERVICE_KEY, map: true, comment: 'destinations that are subject to LoadBalancerSourceRanges' },
    { name: MAPS.serviceIPs, type: SERVICE_KEY, map: true, comment: 'ClusterIP, ExternalIP and LoadBalancer IP traffic' },
    { name: MAPS.serviceNodePorts, type: PORT_KEY, map: true, comment: 'NodePort traffic' },
    { name: HAIRPIN_SET, type: `${addr} . ${addr}`, map: false, comment: 'endpoint . endpoint: a connection from an endpoint to itself' },
  ];
}

const NODEPORT_IPS_SET = 'nodeport-ips';

/** Joins per-service fragments with the fixed chains and maps. */
export function assembleTable(fragments: readonly NftServiceRules[], node: NodeConfig, family: NftFamily = 'ip'): NftTable {
  const fam = familyWords(family === 'ip6' ? 6 : 4);
  const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const sets = fillSets(
    [...sharedSets(fam.addrType).map((s) => ({ ...s, elements: [] })), ...fragments.flatMap((f) => f.sets).sort(byName)],
    fragments.flatMap((f) => f.elements),
  );
  if (node.nodePortAddresses !== undefined)
    sets.unshift({
      name: NODEPORT_IPS_SET,
      type: fam.addrType,
      map: false,
      comment: 'IPs that accept NodePort traffic',
      elements: node.nodePortAddresses
        .filter((ip) => ip.includes(':') === (fam.family === 6) && !ip.startsWith('127.') && ip !== '::1')
        .sort(),
    });
  return {
    family,
    name: TABLE,
    chains: [...fixedChains(node, fam), ...fragments.flatMap((f) => f.chains).sort(byName)],
    sets,
    ports: fragments.flatMap((f) => f.ports),
  };
}

/** The sets and maps with the elements put in each, every element once and sorted: as a full sync writes them (and `nft list` reads them back). */
export function fillSets(sets: readonly NftSet[], elements: readonly NftElement[]): NftSet[] {
  const bySet = new Map<string, Set<string>>();
  for (const e of elements) {
    const held = bySet.get(e.set);
    if (held) held.add(e.text);
    else bySet.set(e.set, new Set([e.text]));
  }
  return sets.map((s) => ({ ...s, elements: [...(bySet.get(s.name) ?? [])].sort() }));
}

/** kube-proxy's masquerade bit as nft prints the mark: 32-bit hex. */
function markHex(bit: number): string {
  return `0x${(1 << bit).toString(16).padStart(8, '0')}`;
}

/**
 * Base chains and keel's fixed chains (kube-proxy setupNFTables). Filter
 * chains run before DNAT (priority dstnat - 10) so they see the service
 * address; the cluster-IPs check runs after it (dstnat + 10), when only
 * traffic to a ClusterIP port no service has is left un-DNATed.
 */
function fixedChains(node: NodeConfig, fam: FamilyWords): NftChain[] {
  const daddr = `${fam.ip} daddr`;
  const mark = markHex(node.masqueradeBit);
  const newConn = (chain: string): string => `ct state new jump ${chain}`;
  const nodePorts =
    node.nodePortAddresses === undefined ? `fib daddr type local ${daddr} != ${fam.loopback}` : `${daddr} @${NODEPORT_IPS_SET}`;
  const base = (name: string, type: 'filter' | 'nat', hook: string, priority: number, rules: string[]): NftChain => ({
    name,
    base: { type, hook, priority },
    rules,
  });
  return [
    base('filter-prerouting', 'filter', 'prerouting', -110, [newConn(CHAINS.firewallCheck)]),
    base('filter-input', 'filter', 'input', -110, [newConn(CHAINS.endpointsCheck)]),
    base('filter-forward', 'filter', 'forward', -110, [newConn(CHAINS.endpointsCheck), newConn(CHAINS.clusterIPsCheck)]),
    base('filter-output', 'filter', 'output', -110, [newConn(CHAINS.endpointsCheck), newConn(CHAINS.firewallCheck)]),
    base('filter-output-post-dnat', 'filter', 'output', -90, [newConn(CHAINS.clusterIPsCheck)]),
    base('nat-prerouting', 'nat', 'prerouting', -100, [`jump ${CHAINS.services}`]),
    base('nat-output', 'nat', 'output', -100, [`jump ${CHAINS.services}`]),
    base('nat-postrouting', 'nat', 'postrouting', 100, [`jump ${CHAINS.masquerading}`]),
    {
      name: CHAINS.services,
      rules: [
        `${daddr} . meta l4proto . th dport vmap @${MAPS.serviceIPs}`,
        `${nodePorts} meta l4proto . th dport vmap @${MAPS.serviceNodePorts}`,
      ],
    },
    {
      name: CHAINS.endpointsCheck,
      rules: [
        `${daddr} . meta l4proto . th dport vmap @${MAPS.noEndpointServices}`,
        `${nodePorts} meta l4proto . th dport vmap @${MAPS.noEndpointNodePorts}`,
      ],
    },
    { name: CHAINS.firewallCheck, rules: [`${daddr} . meta l4proto . th dport vmap @${MAPS.firewallIPs}`] },
    {
      name: CHAINS.clusterIPsCheck,
      rules: [`${daddr} @${CLUSTER_IPS_SET} reject comment "Reject traffic to invalid ports of ClusterIPs"`],
    },
    { name: CHAINS.reject, comment: 'helper for @no-endpoint-services / @no-endpoint-nodeports', rules: ['reject'] },
    { name: CHAINS.markMasq, rules: [`meta mark set meta mark | ${mark}`] },
    {
      name: CHAINS.masquerading,
      rules: [
        `ct status dnat ${fam.ip} saddr . ${fam.ip} daddr @${HAIRPIN_SET} jump ${CHAINS.markMasq}`,
        `meta mark & ${mark} == 0x00000000 return`,
        `meta mark set meta mark ^ ${mark}`,
        'masquerade fully-random',
      ],
    },
  ];
}
