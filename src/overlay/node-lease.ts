import { DecodeError } from '../api/errors.js';
import { cidrContains, ipFromValue, parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { nodeAddress, type Node } from '../api/node.js';
import type { Lease, LeaseAttrs } from './lease.js';
import type { NetworkConfig } from './network-config.js';

/** flannel's kube-subnet-mgr annotation prefix (pkg/subnet/kube/annotations.go with its default --kube-annotation-prefix). */
const FLANNEL_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com/';

const annotation = (node: Node, name: string): string | undefined => node.metadata.annotations?.[`${FLANNEL_ANNOTATION_PREFIX}${name}`];

function within(network: Cidr, subnet: Cidr): boolean {
  return subnet.prefixLength >= network.prefixLength && cidrContains(network, ipFromValue(subnet.family, subnet.first));
}

/** The annotation's JSON, or undefined when absent or not JSON (flannel keeps it as raw JSON; keel reads only what parses). */
function jsonAnnotation(node: Node, name: string): unknown {
  const text = annotation(node, name);
  if (text === undefined || text === '' || text === 'null') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function ipOfFamily(text: string | undefined, family: 4 | 6): IpAddress | undefined {
  const ip = text === undefined ? undefined : parseIp(text);
  return ip?.family === family ? ip : undefined;
}

/**
 * A Node as a lease, as flannel's kube-subnet-mgr reads it (nodeToLease):
 * the subnet is its IPv4 spec.podCIDR(s) entry (the IPv6 one, if any, is
 * the lease's ipv6Subnet); PublicIP, BackendType and BackendData come from
 * flannel's annotations when a flannel node wrote them, else PublicIP is the
 * node's InternalIP (then ExternalIP) and the backend the cluster's.
 * Throws a DecodeError naming the node when it cannot be one: no podCIDR
 * yet, no IPv4 one, one outside the network, or no address to reach it at.
 */
export function nodeLease(node: Node, config: NetworkConfig): Lease {
  const subject = `node ${node.metadata.name}`;
  const texts = node.spec.podCIDRs ?? (node.spec.podCIDR ? [node.spec.podCIDR] : []);
  if (texts.length === 0) throw new DecodeError(subject, 'spec.podCIDR is not set (no subnet assigned to the node yet)');
  if (texts.length > 2) throw new DecodeError(subject, `spec.podCIDRs has ${texts.length} entries; at most one per family`);
  const cidrs = texts.map((t) => parseCidr(t)).filter((c): c is Cidr => c !== undefined);
  const subnet = cidrs.find((c) => c.family === 4);
  const ipv6Subnet = cidrs.find((c) => c.family === 6);
  if (!subnet) throw new DecodeError(subject, `spec.podCIDRs ${texts.join(',')} has no IPv4 subnet`);
  if (!within(config.network, subnet)) {
    throw new DecodeError(subject, `spec.podCIDR ${subnet.text} is outside the overlay network ${config.network.text}`);
  }
  const annotated = ipOfFamily(annotation(node, 'public-ip'), 4);
  const publicIp = annotated ?? ipOfFamily(nodeAddress(node, 'InternalIP', 4), 4) ?? ipOfFamily(nodeAddress(node, 'ExternalIP', 4), 4);
  if (!publicIp) throw new DecodeError(subject, 'has no IPv4 InternalIP or ExternalIP (and no flannel public-ip annotation)');
  const attrs: { -readonly [K in keyof LeaseAttrs]: LeaseAttrs[K] } = {
    publicIp,
    backendType: annotation(node, 'backend-type') || config.backend.type,
  };
  const backendData = jsonAnnotation(node, 'backend-data');
  if (backendData !== undefined) attrs.backendData = backendData;
  const publicIpv6 = ipOfFamily(annotation(node, 'public-ipv6'), 6) ?? ipOfFamily(nodeAddress(node, 'InternalIP', 6), 6);
  if (ipv6Subnet && publicIpv6) attrs.publicIpv6 = publicIpv6;
  const backendV6Data = jsonAnnotation(node, 'backend-v6-data');
  if (ipv6Subnet && backendV6Data !== undefined) attrs.backendV6Data = backendV6Data;
  return ipv6Subnet ? { subnet, ipv6Subnet, attrs } : { subnet, attrs };
}

/**
 * Every node's lease: the subnets from its Node, the attributes keel's
 * agent on that node published under keel's prefix when there is such a
 * record (it knows its VTEP MAC and public IP first-hand), else those the
 * Node object gives. Sorted by node name, so the result is stable.
 */
export function mergeNodeLeases(nodes: ReadonlyMap<string, Lease>, published: ReadonlyMap<string, LeaseAttrs>): Lease[] {
  return [...nodes.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, lease]) => {
      const attrs = published.get(name);
      return attrs ? { ...lease, attrs } : lease;
    });
}
