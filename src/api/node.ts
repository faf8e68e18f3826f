import { parseCidrSloppy, parseIpSloppy } from './ip.js';
import { readMeta, type FieldReader, type ObjectMeta } from './meta.js';

/** The Node fields keel reads: its pod CIDRs (flannel's kube-subnet-mgr) and addresses (the default --node-ip). */
export interface Node {
  apiVersion: 'v1';
  kind: 'Node';
  /** namespace is '' (Nodes are cluster-scoped). */
  metadata: ObjectMeta;
  spec: { podCIDR?: string; podCIDRs?: string[] };
  status: { addresses: { type: string; address: string }[] };
}

export function validateNode(raw: Record<string, unknown>): Node {
  const read = readMeta('Node', raw, { subdomainName: true, clusterScoped: true });
  const r: FieldReader = read.r;
  const s = r.optionalObject(raw.spec, 'spec') ?? {};
  const spec: Node['spec'] = {};
  const cidr = (v: unknown, field: string): string => {
    const c = parseCidrSloppy(r.string(v, field));
    if (!c) r.fail(field, `${JSON.stringify(v)} is not a CIDR`);
    return c.text;
  };
  const podCIDR = r.optionalString(s.podCIDR, 'spec.podCIDR');
  if (podCIDR) spec.podCIDR = cidr(podCIDR, 'spec.podCIDR');
  const podCIDRs = r.array(s.podCIDRs, 'spec.podCIDRs').map((v, i) => cidr(v, `spec.podCIDRs[${i}]`));
  if (podCIDRs.length) {
    if (spec.podCIDR && podCIDRs[0] !== spec.podCIDR) r.fail('spec.podCIDRs[0]', `must equal spec.podCIDR (${spec.podCIDR})`);
    spec.podCIDRs = podCIDRs;
    spec.podCIDR ??= podCIDRs[0] as string;
  }
  const st = r.optionalObject(raw.status, 'status') ?? {};
  const addresses = r.array(st.addresses, 'status.addresses').map((v, i) => {
    const a = r.object(v, `status.addresses[${i}]`);
    const type = r.string(a.type, `status.addresses[${i}].type`);
    const text = r.string(a.address, `status.addresses[${i}].address`);
    // InternalIP/ExternalIP are addresses; Hostname/InternalDNS/ExternalDNS are names, kept as written.
    if (type.endsWith('IP')) {
      const ip = parseIpSloppy(text);
      if (!ip) r.fail(`status.addresses[${i}].address`, `${JSON.stringify(text)} is not an IP address`);
      return { type, address: ip.text };
    }
    return { type, address: text };
  });
  return { apiVersion: 'v1', kind: 'Node', metadata: read.meta, spec, status: { addresses } };
}

/** The node's first address of a type (InternalIP for --node-ip, as kubelet and kube-proxy pick it). */
export function nodeAddress(node: Node, type: 'InternalIP' | 'ExternalIP', family?: 4 | 6): string | undefined {
  return node.status.addresses.find((a) => a.type === type && (family === undefined || parseIpSloppy(a.address)?.family === family))
    ?.address;
}
