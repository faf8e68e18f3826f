import { namespacedName, type NamespacedName } from '../api/cluster-state.js';
import type { EndpointAddress, EndpointPort, EndpointSubset, Endpoints } from '../api/endpoints.js';
import { parseIp } from '../api/ip.js';
import { isPodReady, type Pod } from '../api/pod.js';
import { publishesNotReady, type Service, type ServicePort } from '../api/service.js';
import { isEmptySelector, matchesSelector } from '../api/label-selector.js';

/** Marks the Endpoints this controller owns: only those are deleted when their Service goes. */
export const MANAGED_BY_ANNOTATION = 'endpoints.keel.dev/managed-by';
export const MANAGED_BY = 'keel-sandbox';

/**
 * kube-controller-manager's endpoints controller as a pure function: for
 * every Service with a selector, the pods of its namespace the selector
 * matches, grouped into subsets by their resolved ports (a named
 * targetPort resolves per pod). Ready pods are addresses, the others
 * notReadyAddresses; terminated pods and pods without an IP are left out.
 * A pod gives one address per family of the service (its podIPs of those
 * families; without spec.ipFamilies, its podIP). kube-controller-manager's
 * Endpoints carry the primary family alone and its EndpointSlice controller
 * the others; the sandbox writes no slices, so its Endpoints carry them all
 * and each agent's family loop takes its own (as it does from slices).
 */
export function desiredEndpoints(services: Iterable<Service>, pods: Iterable<Pod>): Map<NamespacedName, Endpoints> {
  const byNamespace = new Map<string, Pod[]>();
  for (const pod of pods) {
    if (!pod.status?.podIP || pod.status.phase === 'Failed' || pod.status.phase === 'Succeeded') continue;
    const list = byNamespace.get(pod.metadata.namespace) ?? [];
    list.push(pod);
    byNamespace.set(pod.metadata.namespace, list);
  }
  const out = new Map<NamespacedName, Endpoints>();
  for (const svc of services) {
    const selector = { matchLabels: svc.spec.selector ?? {} };
    if (svc.spec.type === 'ExternalName' || isEmptySelector(selector)) continue;
    const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
    for (const pod of byNamespace.get(svc.metadata.namespace) ?? []) {
      if (!matchesSelector(selector, pod.metadata.labels)) continue;
      const ports = svc.spec.ports.flatMap((p) => resolvePort(p, pod));
      if (ports.length === 0 && svc.spec.ports.length > 0) continue;
      const key = JSON.stringify(ports);
      const group = groups.get(key) ?? { ports, ready: [], notReady: [] };
      groups.set(key, group);
      const ready = isPodReady(pod) || publishesNotReady(svc);
      (ready ? group.ready : group.notReady).push(...addressesOf(pod, svc));
    }
    const subsets: EndpointSubset[] = [...groups.entries()]
      .sort(([a], [b]) => compare(a, b))
      .map(([, g]) => ({
        addresses: g.ready.sort(byIp),
        notReadyAddresses: g.notReady.sort(byIp),
        ports: g.ports,
      }));
    const { name, namespace } = svc.metadata;
    out.set(namespacedName(namespace, name), {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: {
        name,
        namespace,
        ...(svc.metadata.labels ? { labels: svc.metadata.labels } : {}),
        annotations: { [MANAGED_BY_ANNOTATION]: MANAGED_BY },
      },
      subsets,
    });
  }
  return out;
}

export interface EndpointWrites {
  apply: Endpoints[];
  remove: NamespacedName[];
}

/** Only what differs from what is stored: unchanged Endpoints cost no write. */
export function planEndpointWrites(
  desired: ReadonlyMap<NamespacedName, Endpoints>,
  existing: ReadonlyMap<NamespacedName, Endpoints>,
): EndpointWrites {
  const apply: Endpoints[] = [];
  for (const [key, want] of [...desired].sort(([a], [b]) => compare(a, b))) {
    const have = existing.get(key);
    if (!have || canonical(content(have)) !== canonical(content(want))) apply.push(want);
  }
  const remove = [...existing]
    .filter(([key, e]) => !desired.has(key) && e.metadata.annotations?.[MANAGED_BY_ANNOTATION] === MANAGED_BY)
    .map(([key]) => key)
    .sort(compare);
  return { apply, remove };
}

function content(e: Endpoints): unknown {
  return { subsets: e.subsets, labels: e.metadata.labels ?? {}, managed: e.metadata.annotations?.[MANAGED_BY_ANNOTATION] ?? '' };
}

function resolvePort(port: ServicePort, pod: Pod): EndpointPort[] {
  let target: number | undefined;
  if (typeof port.targetPort === 'number') {
    target = port.targetPort;
  } else {
    const name = port.targetPort;
    target = pod.spec.containers
      .flatMap((c) => c.ports ?? [])
      .find((cp) => cp.name === name && cp.protocol === port.protocol)?.containerPort;
  }
  if (target === undefined) return [];
  return [{ ...(port.name ? { name: port.name } : {}), port: target, protocol: port.protocol }];
}

function addressesOf(pod: Pod, svc: Service): EndpointAddress[] {
  const podIPs = pod.status?.podIPs?.map((p) => p.ip) ?? [pod.status?.podIP as string];
  const families = svc.spec.ipFamilies;
  const ips = families?.length
    ? families.flatMap((f) => podIPs.find((ip) => parseIp(ip)?.family === (f === 'IPv6' ? 6 : 4)) ?? [])
    : [pod.status?.podIP as string];
  return ips.map((ip) => addressOf(ip, pod, svc));
}

function addressOf(ip: string, pod: Pod, svc: Service): EndpointAddress {
  const addr: EndpointAddress = { ip };
  if (pod.spec.hostname && pod.spec.subdomain === svc.metadata.name) addr.hostname = pod.spec.hostname;
  if (pod.spec.nodeName) addr.nodeName = pod.spec.nodeName;
  addr.targetRef = {
    kind: 'Pod',
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}),
  };
  return addr;
}

/** IPv4 before IPv6, then by address value. */
function byIp(a: EndpointAddress, b: EndpointAddress): number {
  const pa = parseIp(a.ip);
  const pb = parseIp(b.ip);
  if (pa && pb && pa.family !== pb.family) return pa.family - pb.family;
  if (pa && pb && pa.value !== pb.value) return pa.value < pb.value ? -1 : 1;
  return compare(a.targetRef?.name ?? '', b.targetRef?.name ?? '');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON with sorted keys, so equal content gives equal text whatever the key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => compare(a, b)))
      : v,
  );
}
