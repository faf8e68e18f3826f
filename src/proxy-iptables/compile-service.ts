import { cidrContains, parseIp, type Cidr, type IpAddress, type IpFamily } from '../api/ip.js';
import type { Protocol } from '../api/service.js';
import type { ServicePortView, ServiceView } from '../service-view/service-view.js';
import { portProtoHash } from './chain-names.js';
import { cat, comment, dport, hostCidr, probability, proto, rule, sanitizeComment } from './rule-text.js';
import { resolveEndpoints, resolveLocalEndpoints, type ResolvedEndpoint } from './service-endpoints.js';

export interface NodeConfig {
  readonly nodeName: string;
  /**
   * The family these tables are for (default 4): kube-proxy runs one proxier per family, the IPv6 one
   * writing ip6tables from each service's IPv6 addresses and endpoints; keel compiles the same way.
   */
  readonly family?: IpFamily;
  /**
   * The node's own addresses (kube-proxy's nodeIPs): a loadBalancerSourceRanges
   * entry containing one lets the node reach the LB IP it loops back through.
   */
  readonly nodeIPs?: readonly string[];
  /**
   * Where NodePorts answer (kube-proxy's --nodeport-addresses resolved to
   * this node's matching addresses); undefined: every local address.
   */
  readonly nodePortAddresses?: readonly string[];
  /** nf_conntrack_tcp_be_liberal is set: kube-proxy then writes no DROP for INVALID packets. */
  readonly conntrackTcpLiberal?: boolean;
  /** Pod network of this family: traffic to a ClusterIP from outside it is masqueraded. */
  readonly clusterCidr?: string;
  /** Bit of the packet mark meaning "masquerade me" (kube-proxy: 14 → 0x4000). */
  readonly masqueradeBit: number;
}

export interface ChainRules {
  readonly name: string;
  readonly rules: readonly string[];
}

/** What one service port is, for trace, conntrack cleanup and the userspace peer. */
export interface ServicePortInfo {
  readonly service: string;
  readonly spn: string;
  readonly protocol: Protocol;
  readonly clusterIP: string;
  readonly port: number;
  readonly nodePort: number | undefined;
  readonly externalIPs: readonly string[];
  readonly endpoints: readonly ResolvedEndpoint[];
}

/** One service's share of every table; the assembler joins them in key order. */
export interface ServiceRules {
  readonly key: string;
  readonly natServices: string[];
  readonly natNodePorts: string[];
  readonly natChains: ChainRules[];
  readonly filterServices: string[];
  readonly filterExternal: string[];
  readonly filterFirewall: string[];
  /** filter KUBE-NODEPORTS: ACCEPT for health check node ports. */
  readonly filterNodePorts: string[];
  readonly ports: ServicePortInfo[];
}

const MARK_MASQ = 'KUBE-MARK-MASQ';
/** The recent match's source mask as iptables-save prints its default, per family. */
const MASK_32 = '255.255.255.255';
const MASK_128 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';

/**
 * One family's tables hold the service's addresses and endpoints of that
 * family only (kube-proxy's per-family service change tracker): a
 * dual-stack service gets rules in both, a single-stack one in its own.
 */
export function compileService(view: ServiceView, node: NodeConfig): ServiceRules {
  const out: ServiceRules = {
    key: view.key,
    natServices: [],
    natNodePorts: [],
    natChains: [],
    filterServices: [],
    filterExternal: [],
    filterFirewall: [],
    filterNodePorts: [],
    ports: [],
  };
  const family = node.family ?? 4;
  const clusterIP = view.clusterIPs.find((ip) => ip.family === family);
  if (view.type === 'ExternalName' || view.headless || !clusterIP) return out;
  const own = (ips: readonly IpAddress[]): string[] => ips.flatMap((ip) => (ip.family === family ? [ip.text] : []));
  const external = { externalIPs: own(view.externalIPs), lbIPs: own(view.loadBalancerIPs) };
  for (const port of view.ports) compilePort(out, view, port, clusterIP.text, external, node);
  return out;
}

function compilePort(
  out: ServiceRules,
  view: ServiceView,
  port: ServicePortView,
  clusterIP: string,
  external: { externalIPs: string[]; lbIPs: string[] },
  node: NodeConfig,
): void {
  const spn = port.servicePortName;
  const p = port.protocol;
  const family = node.family ?? 4;
  const all = resolveEndpoints(view, port, family);
  const nodePort = port.nodePort;
  const { externalIPs, lbIPs } = external;
  const hasExternal = nodePort !== undefined || externalIPs.length > 0 || lbIPs.length > 0;
  const internalLocal = view.internalTrafficPolicy === 'Local';
  const externalLocal = hasExternal && view.externalTrafficPolicy === 'Local';
  // Only a Local policy reads this node's own endpoints.
  const local = internalLocal || externalLocal ? resolveLocalEndpoints(view, port, family) : NONE;
  out.ports.push({ service: out.key, spn, protocol: p, clusterIP, port: port.port, nodePort, externalIPs, endpoints: all });
  // kube-proxy proxier.go syncProxyRules ("Capture healthCheckNodePorts"): accepted whether or
  // not this node has local endpoints, one rule per service port.
  const hc = view.healthCheckNodePort;
  if (hc !== undefined)
    out.filterNodePorts.push(
      rule('-p', 'tcp', ...comment(`${spn} health check node port`), '-m', 'tcp', '--dport', String(hc), '-j', 'ACCEPT'),
    );

  const hash = portProtoHash(spn, p);
  const svc_ = cat('KUBE-SVC-', hash);
  const svl = cat('KUBE-SVL-', hash);
  const ext = cat('KUBE-EXT-', hash);
  const fw = cat('KUBE-FW-', hash);
  const pr = proto(p);
  const portText = String(port.port);
  // The form rule() gives, joined directly: one per service port and address.
  const dst = (ip: string, what: string, target: string): string =>
    cat(
      '-d ',
      hostCidr(ip),
      ' -p ',
      pr,
      ' -m comment --comment "',
      sanitizeComment(`${spn} ${what}`),
      '" -m ',
      pr,
      ' --dport ',
      portText,
      ' -j ',
      target,
    );
  // As iptables-save prints REJECT's default back: ICMPv6 in the IPv6 tables.
  const reject = ['--reject-with', family === 6 ? 'icmp6-port-unreachable' : 'icmp-port-unreachable'];

  if (all.length === 0) {
    // No endpoints at all: refuse at once instead of letting clients time out.
    const why = `${spn} has no endpoints`;
    out.filterServices.push(
      rule('-d', hostCidr(clusterIP), '-p', proto(p), ...comment(why), ...dport(p, port.port), '-j', 'REJECT', ...reject),
    );
    for (const ip of [...externalIPs, ...lbIPs])
      out.filterExternal.push(rule('-d', hostCidr(ip), '-p', proto(p), ...comment(why), ...dport(p, port.port), '-j', 'REJECT', ...reject));
    if (nodePort !== undefined) {
      out.filterExternal.push(
        rule('-p', proto(p), ...comment(why), '-m', 'addrtype', '--dst-type', 'LOCAL', ...dport(p, nodePort), '-j', 'REJECT', ...reject),
      );
    }
    return;
  }

  const usesCluster = !internalLocal || (hasExternal && !externalLocal);
  const usesLocal = internalLocal || externalLocal;
  if (internalLocal && local.length === 0) {
    out.filterServices.push(
      rule('-d', hostCidr(clusterIP), '-p', proto(p), ...comment(`${spn} has no local endpoints`), ...dport(p, port.port), '-j', 'DROP'),
    );
  } else {
    out.natServices.push(dst(clusterIP, 'cluster IP', internalLocal ? svl : svc_));
  }

  if (hasExternal) {
    if (externalLocal && local.length === 0) {
      const why = `${spn} has no local endpoints`;
      for (const ip of [...externalIPs, ...lbIPs])
        out.filterExternal.push(rule('-d', hostCidr(ip), '-p', proto(p), ...comment(why), ...dport(p, port.port), '-j', 'DROP'));
      if (nodePort !== undefined)
        out.filterExternal.push(
          rule('-p', proto(p), ...comment(why), '-m', 'addrtype', '--dst-type', 'LOCAL', ...dport(p, nodePort), '-j', 'DROP'),
        );
    }
    for (const ip of externalIPs) out.natServices.push(dst(ip, 'external IP', ext));
    const ranges = view.loadBalancerSourceRanges;
    // Every listed range invalid: the firewall stays, allowing nothing (see ServiceView).
    const firewalled = ranges.length > 0 || view.loadBalancerSourceRangesInvalid;
    for (const ip of lbIPs) out.natServices.push(dst(ip, 'loadbalancer IP', firewalled ? fw : ext));
    if (nodePort !== undefined) out.natNodePorts.push(rule('-p', proto(p), ...comment(spn), ...dport(p, nodePort), '-j', ext));
    out.natChains.push({ name: ext, rules: extRules(spn, externalLocal, node, svc_, svl) });
    if (firewalled && lbIPs.length) {
      out.natChains.push({ name: fw, rules: firewallRules(spn, ranges, lbIPs, node, ext) });
      for (const ip of lbIPs)
        out.filterFirewall.push(
          rule(
            '-d',
            hostCidr(ip),
            '-p',
            proto(p),
            ...comment(`${spn} traffic not accepted by ${fw}`),
            ...dport(p, port.port),
            '-j',
            'DROP',
          ),
        );
    }
  }

  const affinity = view.affinityTimeoutSeconds;
  const masq = node.clusterCidr ? cat('! -s ', node.clusterCidr, ' ', dst(clusterIP, 'cluster IP', MARK_MASQ)) : undefined;
  const mask = family === 6 ? MASK_128 : MASK_32;
  if (usesCluster) out.natChains.push({ name: svc_, rules: [...(masq ? [masq] : []), ...balance(spn, all, affinity, mask)] });
  if (usesLocal)
    out.natChains.push({ name: svl, rules: [...(masq && internalLocal ? [masq] : []), ...balance(spn, local, affinity, mask)] });
  const sepComment = cat('-m comment --comment "', sanitizeComment(spn), '"');
  const seps = usesCluster && usesLocal ? byChain(all, local) : usesCluster ? all : local;
  const host = family === 6 ? '/128' : '/32';
  for (const e of seps) out.natChains.push({ name: e.chain, rules: sepRules(sepComment, pr, host, e, affinity, mask) });
}

const NONE: readonly ResolvedEndpoint[] = [];

/** Each endpoint chain once, for both policy chains (a Local set may fall back to terminating endpoints the cluster set does not hold). */
function byChain(all: readonly ResolvedEndpoint[], local: readonly ResolvedEndpoint[]): Iterable<ResolvedEndpoint> {
  const seps = new Map<string, ResolvedEndpoint>();
  for (const e of all) seps.set(e.chain, e);
  for (const e of local) seps.set(e.chain, e);
  return seps.values();
}

/**
 * kube-proxy proxier.go syncProxyRules ("Set up firewall chain"): each
 * source range goes on; when one holds the node's own IP, traffic from the
 * LB IPs does too (a VIP bound locally loops back with itself as source);
 * the last rule only says what happens to the rest.
 */
function firewallRules(spn: string, ranges: readonly Cidr[], lbIPs: readonly string[], node: NodeConfig, ext: string): string[] {
  const c = comment(`${spn} loadbalancer IP`);
  const out = ranges.map((r) => rule('-s', r.text, ...c, '-j', ext));
  const nodeIPs = (node.nodeIPs ?? []).map(parseIp).filter((ip): ip is IpAddress => ip !== undefined);
  const fromNode = ranges.some((cidr) => nodeIPs.some((ip) => cidrContains(cidr, ip)));
  if (fromNode) for (const ip of lbIPs) out.push(rule('-s', hostCidr(ip), ...c, '-j', ext));
  out.push(rule(...comment(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`)));
  return out;
}

function extRules(spn: string, local: boolean, node: NodeConfig, svc: string, svl: string): string[] {
  if (!local) return [rule(...comment(`masquerade traffic for ${spn} external destinations`), '-j', MARK_MASQ), rule('-j', svc)];
  // Local policy keeps the client address, except for pods and the node itself, which may use any endpoint.
  return [
    ...(node.clusterCidr ? [rule('-s', node.clusterCidr, ...comment(`pod traffic for ${spn} external destinations`), '-j', svc)] : []),
    rule(...comment(`masquerade LOCAL traffic for ${spn} external destinations`), '-m', 'addrtype', '--src-type', 'LOCAL', '-j', MARK_MASQ),
    rule(...comment(`route LOCAL traffic for ${spn} external destinations`), '-m', 'addrtype', '--src-type', 'LOCAL', '-j', svc),
    rule('-j', svl),
  ];
}

/** Affinity checks first (a client seen recently goes back), then 1/n, 1/(n-1), …, the last unconditional. */
function balance(spn: string, eps: readonly ResolvedEndpoint[], affinity: number | undefined, mask: string): string[] {
  // Hot path at 10k services: text joined directly in the canonical form `rule()` produces;
  // endpoint addresses are digits, dots and a colon, so only the name part needs sanitizing.
  const safe = sanitizeComment(spn);
  // kube-proxy's comment on each of the service chain's jumps: `<ns/name:port> -> <endpoint>`.
  const tag = (e: ResolvedEndpoint): string => cat('-m comment --comment "', safe, ' -> ', e.address, '"');
  const out: string[] = [];
  if (affinity !== undefined) {
    for (const e of eps) {
      out.push(
        cat(
          tag(e),
          ' -m recent --rcheck --seconds ',
          String(affinity),
          ' --reap --name ',
          e.chain,
          ' --mask ',
          mask,
          ' --rsource -j ',
          e.chain,
        ),
      );
    }
  }
  for (let i = 0; i < eps.length; i++) {
    const e = eps[i] as ResolvedEndpoint;
    const left = eps.length - i;
    out.push(
      left > 1
        ? cat(tag(e), ' -m statistic --mode random --probability ', probability(left), ' -j ', e.chain)
        : cat(tag(e), ' -j ', e.chain),
    );
  }
  return out;
}

/** `host` is the family's host prefix (`/32`, `/128`): an endpoint of these tables is of their family. */
function sepRules(c: string, pr: string, host: string, e: ResolvedEndpoint, affinity: number | undefined, mask: string): string[] {
  const recent = affinity !== undefined ? cat(' -m recent --set --name ', e.chain, ' --mask ', mask, ' --rsource') : '';
  return [
    cat('-s ', e.ip, host, ' ', c, ' -j ', MARK_MASQ),
    cat('-p ', pr, ' ', c, recent, ' -m ', pr, ' -j DNAT --to-destination ', e.address),
  ];
}
