import { cidrContains, parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import type { NodeConfig, ServicePortInfo } from '../proxy-iptables/compile.js';
import { resolveEndpoints, resolveLocalEndpoints, type ResolvedEndpoint } from '../proxy-iptables/service-endpoints.js';
import type { ServicePortView, ServiceView } from '../service-view/service-view.js';
import {
  CHAINS,
  CLUSTER_IPS_SET,
  endpointNames,
  familyWords,
  HAIRPIN_SET,
  MAPS,
  portChainNames,
  type FamilyWords,
  type SharedSetName,
} from './nft-names.js';
import type { NftChain, NftElement, NftServiceRules, NftSet } from './nft-table.js';

const MARK_MASQ = `jump ${CHAINS.markMasq}`;

/**
 * One service's rules in kube-proxy's nftables layout (pkg/proxy/nftables/
 * proxier.go syncProxyRules): its addresses become elements of the shared
 * verdict maps, its policies chains of its own. One family's half, as the
 * iptables mode: the ClusterIP, external/LB IPs and endpoints of
 * `node.family` (IPv4 by default) for the `ip` or `ip6` table.
 */
export function compileNftService(view: ServiceView, node: NodeConfig): NftServiceRules {
  const out = {
    key: view.key,
    chains: [] as NftChain[],
    sets: [] as NftSet[],
    elements: [] as NftElement[],
    ports: [] as ServicePortInfo[],
  };
  const fam = familyWords(node.family);
  // A dual-stack service is programmed in each family by that family's ClusterIP (kube-proxy: one proxier per family).
  const clusterIP = view.clusterIPs.find((ip) => ip.family === fam.family);
  if (view.type === 'ExternalName' || view.headless || !clusterIP) return out;
  out.elements.push({ set: CLUSTER_IPS_SET, text: clusterIP.text });
  for (const port of view.ports) compilePort(out, view, port, clusterIP.text, node, fam);
  return out;
}

interface Out {
  chains: NftChain[];
  sets: NftSet[];
  elements: NftElement[];
  ports: ServicePortInfo[];
}

function compilePort(out: Out, view: ServiceView, port: ServicePortView, clusterIP: string, node: NodeConfig, fam: FamilyWords): void {
  const ofFamily = (ips: readonly IpAddress[]): string[] => ips.flatMap((ip) => (ip.family === fam.family ? [ip.text] : []));
  const externalIPs = ofFamily(view.externalIPs);
  const lbIPs = ofFamily(view.loadBalancerIPs);
  const spn = port.servicePortName;
  const p = port.protocol;
  const proto = p.toLowerCase();
  const all = resolveEndpoints(view, port, fam.family);
  const local = resolveLocalEndpoints(view, port, fam.family);
  out.ports.push({ service: view.key, spn, protocol: p, clusterIP, port: port.port, nodePort: port.nodePort, externalIPs, endpoints: all });

  const names = portChainNames(spn, p);
  const externallyAccessible = port.nodePort !== undefined || externalIPs.length > 0 || lbIPs.length > 0;
  const internalLocal = view.internalTrafficPolicy === 'Local';
  const externalLocal = externallyAccessible && view.externalTrafficPolicy === 'Local';
  const hasEndpoints = all.length > 0;
  // kube-proxy serviceport.go UsesClusterEndpoints: external Local still short-circuits pods and the node to the cluster chain.
  const usesCluster = hasEndpoints && (!internalLocal || externallyAccessible);
  const usesLocal = local.length > 0 && (internalLocal || externalLocal);
  const hasInternal = hasEndpoints && (!internalLocal || local.length > 0);
  const hasExternal = hasEndpoints && (!externalLocal || local.length > 0);
  const internalChain = internalLocal ? names.local : names.cluster;
  // Nothing at all: REJECT at once; only no local endpoint for a Local policy: DROP.
  const internalVerdict = hasEndpoints ? 'drop' : `goto ${CHAINS.reject}`;
  const externalVerdict = internalVerdict;
  const key = (ip: string, n: number): string => `${ip} . ${proto} . ${n}`;
  const noted = (k: string, verdict: string): string => `${k} comment "${nftComment(spn)}" : ${verdict}`;
  const el = (set: SharedSetName, text: string): void => {
    out.elements.push({ set, text });
  };

  el(
    hasInternal ? MAPS.serviceIPs : MAPS.noEndpointServices,
    hasInternal ? `${key(clusterIP, port.port)} : goto ${internalChain}` : noted(key(clusterIP, port.port), internalVerdict),
  );
  for (const ip of externalIPs) {
    if (hasEndpoints) el(MAPS.serviceIPs, `${key(ip, port.port)} : goto ${names.external}`);
    if (!hasExternal) el(MAPS.noEndpointServices, noted(key(ip, port.port), externalVerdict));
  }
  const ranges = view.loadBalancerSourceRanges;
  const usesFirewall = lbIPs.length > 0 && ranges.length > 0;
  for (const ip of lbIPs) {
    if (hasEndpoints) el(MAPS.serviceIPs, `${key(ip, port.port)} : goto ${names.external}`);
    if (usesFirewall) el(MAPS.firewallIPs, noted(key(ip, port.port), `goto ${names.firewall}`));
    if (!hasExternal) el(MAPS.noEndpointServices, noted(key(ip, port.port), externalVerdict));
  }
  if (port.nodePort !== undefined) {
    // NodePorts are not subject to loadBalancerSourceRanges (kube-proxy: "for better or for worse").
    if (hasEndpoints) el(MAPS.serviceNodePorts, `${proto} . ${port.nodePort} : goto ${names.external}`);
    if (!hasExternal) el(MAPS.noEndpointNodePorts, noted(`${proto} . ${port.nodePort}`, externalVerdict));
  }
  if (usesFirewall) out.chains.push({ name: names.firewall, rules: [firewallRule(ranges, lbIPs, node, fam)] });

  if (hasEndpoints && externallyAccessible) {
    const rules: string[] = [];
    if (!externalLocal) rules.push(MARK_MASQ);
    else {
      // Pods and the node itself may use any endpoint (they would reach an external LB and come back); the node's traffic is masqueraded.
      if (node.clusterCidr) rules.push(`${fam.ip} saddr ${node.clusterCidr} goto ${names.cluster} comment "short-circuit pod traffic"`);
      rules.push(`fib saddr type local ${MARK_MASQ} comment "masquerade local traffic"`);
      rules.push(`fib saddr type local goto ${names.cluster} comment "short-circuit local traffic"`);
    }
    if (hasExternal) rules.push(`goto ${externalLocal ? names.local : names.cluster}`);
    out.chains.push({ name: names.external, rules });
  }

  const affinity = view.affinityTimeoutSeconds;
  const masq = node.clusterCidr
    ? `${fam.ip} daddr ${clusterIP} ${proto} dport ${port.port} ${fam.ip} saddr != ${node.clusterCidr} ${MARK_MASQ}`
    : undefined;
  for (const e of [...all, ...local]) el(HAIRPIN_SET, `${e.ip} . ${e.ip}`);
  // With affinity, each endpoint chain once, for whichever policy chains use it.
  const chainsByName = new Map<string, Endpoint>();
  const pickRules = (eps: readonly ResolvedEndpoint[], map: string): string[] => {
    if (affinity === undefined) return pickByData(out, eps, map, proto, fam);
    const named = eps.map((e) => ({ ...e, ...endpointNames(spn, p, e.address) }));
    for (const e of named) chainsByName.set(e.chain, e);
    return balance(named, fam);
  };
  if (usesCluster)
    out.chains.push({
      name: names.cluster,
      rules: [...(masq && !internalLocal ? [masq] : []), ...pickRules(all, names.clusterEndpoints)],
    });
  if (usesLocal)
    out.chains.push({ name: names.local, rules: [...(masq && internalLocal ? [masq] : []), ...pickRules(local, names.localEndpoints)] });
  for (const e of chainsByName.values()) {
    out.chains.push({ name: e.chain, rules: [`update @${e.affinity} { ${fam.ip} saddr }`, `meta l4proto ${proto} dnat to ${e.address}`] });
    out.sets.push({
      name: e.affinity,
      type: fam.addrType,
      map: false,
      flags: ['dynamic', 'timeout'],
      timeoutSeconds: affinity ?? 0,
      elements: [],
    });
  }
}

type Endpoint = ResolvedEndpoint & { chain: string; affinity: string };

/** Tries of the random slot among `mod size` slots before falling back to the lower half, which is always full. */
const PICK_TRIES = 8;

/**
 * The endpoint as data (keel's departure from kube-proxy's endpoint
 * chains): slot i of the service's own map holds endpoint i as
 * `ip . port`, and `dnat to numgen random mod size map` picks a slot.
 * The modulus is the endpoint count rounded up to a power of two (at
 * least 2), so adding or removing an endpoint rewrites only map elements
 * (and, when the count crosses a power of two above 2, the pick rules in
 * place): neither carries a jump, so the change needs no new chain.
 * A slot above the count is empty, its lookup fails and the rule does not
 * match, so the next try draws again: the pick is uniform over the
 * endpoints; after PICK_TRIES misses (p ≤ 2^-8) `mod size/2` picks
 * among the lower half, always full.
 */
function pickByData(out: Out, eps: readonly ResolvedEndpoint[], map: string, proto: string, fam: FamilyWords): string[] {
  const size = Math.max(2, 2 ** Math.ceil(Math.log2(eps.length)));
  // `typeof`, as a numgen slot has no type name; `tcp dport`, not `th dport`, or nft 1.0.6 refuses rules added to a map it reads back.
  out.sets.push({
    name: map,
    typeKeyword: 'typeof',
    type: `numgen random mod 1 : ${fam.ip} daddr . ${proto} dport`,
    map: true,
    elements: [],
  });
  for (const [i, e] of eps.entries()) out.elements.push({ set: map, text: `${i} : ${e.ip} . ${e.port}` });
  const dnat = (mod: number): string => `meta l4proto ${proto} dnat ${fam.ip} to numgen random mod ${mod} map @${map}`;
  return [...Array.from({ length: PICK_TRIES }, () => dnat(size)), dnat(size / 2)];
}

/**
 * ClientIP affinity keeps kube-proxy's endpoint chains (each records the
 * client in its timed set before the DNAT): clients seen within the
 * timeout go back to their endpoint, the rest are spread by one random number.
 */
function balance(eps: readonly Endpoint[], fam: FamilyWords): string[] {
  const out = eps.map((e) => `${fam.ip} saddr @${e.affinity} goto ${e.chain}`);
  out.push(`numgen random mod ${eps.length} vmap { ${eps.map((e, i) => `${i} : goto ${e.chain}`).join(', ')} }`);
  return out;
}

/**
 * Traffic to a firewalled LB IP from outside the source ranges is dropped;
 * when a range holds the node's own IP, the LB IPs are allowed too (a VIP
 * bound locally loops back with itself as source). Written as nft prints
 * an anonymous interval set back: sorted, a host prefix as its address.
 */
function firewallRule(ranges: readonly Cidr[], lbIPs: readonly string[], node: NodeConfig, fam: FamilyWords): string {
  const nodeIPs = (node.nodeIPs ?? []).map(parseIp).filter((ip): ip is IpAddress => ip !== undefined);
  const fromNode = ranges.some((c) => nodeIPs.some((ip) => cidrContains(c, ip)));
  const sources = [...ranges.filter((c) => c.family === fam.family)];
  for (const ip of fromNode ? lbIPs : []) {
    const c = parseCidr(`${ip}/${fam.hostPrefix}`);
    if (c) sources.push(c);
  }
  sources.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : a.prefixLength - b.prefixLength));
  const text = sources.map((c) => (c.prefixLength === fam.hostPrefix ? c.text.slice(0, c.text.lastIndexOf('/')) : c.text));
  return `${fam.ip} saddr != { ${[...new Set(text)].join(', ')} } drop`;
}

/** Comments come from object names; nothing in one may end the quoted string. */
function nftComment(text: string): string {
  return text.replace(/[^A-Za-z0-9 _./:-]/g, '_').slice(0, 128);
}
