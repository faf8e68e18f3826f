import { canonicalName } from './dns-names.js';

export interface ResolvConfOptions {
  /** The cluster DNS address: the kube-dns ClusterIP, or the node's address. */
  nameservers: readonly string[];
  namespace: string;
  zone: string;
  ndots?: number;
}

/**
 * The resolv.conf a pod gets, as kubelet writes it for ClusterFirst pods:
 * short names try the pod's namespace first, then every namespace, then the zone.
 */
export function renderResolvConf(o: ResolvConfOptions): string {
  const zone = canonicalName(o.zone);
  return [
    ...o.nameservers.map((ns) => `nameserver ${ns}`),
    `search ${o.namespace}.svc.${zone} svc.${zone} ${zone}`,
    `options ndots:${o.ndots ?? 5}`,
    '',
  ].join('\n');
}
