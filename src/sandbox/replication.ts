import { isPodReady, type Pod } from '../api/pod.js';
import { WORKLOAD_KINDS, type Workload } from './workload.js';

/** Which workload made a pod (the sandbox's stand-in for ownerReferences, which keel's Pod does not carry). */
export const CREATED_BY_ANNOTATION = 'sandbox.keel.dev/created-by';

export interface PodRef {
  namespace: string;
  name: string;
}

export interface ReplicationPlan {
  create: Pod[];
  remove: PodRef[];
  /** Pods without a node, and the node each goes to. */
  bind: { pod: Pod; nodeName: string }[];
}

function ownerOf(w: Pick<Workload, 'kind' | 'metadata'>): string {
  return `${w.kind}/${w.metadata.name}`;
}

/**
 * The replication controller, the deployment controller (without rollout
 * history) and the scheduler as one pure step: failed pods of a workload
 * are removed and replaced, counts follow `replicas`, pods of deleted
 * workloads go, and every new or unbound pod lands on the node with the
 * fewest pods of its owner, then the fewest pods, then the first name.
 */
export function planReplication(
  workloads: readonly Workload[],
  pods: readonly Pod[],
  nodes: readonly string[],
  newName: (base: string) => string,
): ReplicationPlan {
  const plan: ReplicationPlan = { create: [], remove: [], bind: [] };
  if (nodes.length === 0) return plan;
  const live = pods.filter((p) => p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');
  const load = new Map(nodes.map((n) => [n, { total: 0, byOwner: new Map<string, number>() }]));
  const place = (pod: Pod, node: string): void => {
    const l = load.get(node);
    if (!l) return;
    l.total++;
    const owner = ownerKey(pod);
    l.byOwner.set(owner, (l.byOwner.get(owner) ?? 0) + 1);
  };
  for (const p of live) if (p.spec.nodeName) place(p, p.spec.nodeName);
  const pick = (owner: string): string => {
    const ranked = [...nodes].sort((a, b) => {
      const la = load.get(a)!,
        lb = load.get(b)!;
      return (la.byOwner.get(owner) ?? 0) - (lb.byOwner.get(owner) ?? 0) || la.total - lb.total || nodes.indexOf(a) - nodes.indexOf(b);
    });
    return ranked[0] as string;
  };

  const owners = new Set(workloads.map((w) => `${w.metadata.namespace}/${ownerOf(w)}`));
  for (const p of pods) {
    const by = p.metadata.annotations?.[CREATED_BY_ANNOTATION];
    if (by && Object.hasOwn(WORKLOAD_KINDS, by.split('/')[0] as string) && !owners.has(`${p.metadata.namespace}/${by}`))
      plan.remove.push(refOf(p));
  }
  for (const w of [...workloads].sort((a, b) => cmp(`${a.metadata.namespace}/${ownerOf(a)}`, `${b.metadata.namespace}/${ownerOf(b)}`))) {
    const owner = ownerOf(w);
    const owned = pods.filter(
      (p) => p.metadata.namespace === w.metadata.namespace && p.metadata.annotations?.[CREATED_BY_ANNOTATION] === owner,
    );
    const failed = owned.filter((p) => p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded');
    plan.remove.push(...failed.map(refOf));
    const active = owned.filter((p) => !failed.includes(p));
    if (active.length > w.spec.replicas) {
      // Scale down: unready first, then the newest.
      const extra = [...active].sort(
        (a, b) =>
          Number(isPodReady(a)) - Number(isPodReady(b)) ||
          cmp(b.metadata.creationTimestamp ?? '', a.metadata.creationTimestamp ?? '') ||
          cmp(b.metadata.name, a.metadata.name),
      );
      plan.remove.push(...extra.slice(0, active.length - w.spec.replicas).map(refOf));
    }
    for (let i = active.length; i < w.spec.replicas; i++) {
      const node = pick(`${w.metadata.namespace}/${owner}`);
      const pod: Pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: newName(w.metadata.name),
          namespace: w.metadata.namespace,
          labels: { ...w.spec.template.metadata.labels },
          annotations: { [CREATED_BY_ANNOTATION]: owner },
        },
        spec: { ...structuredClone(w.spec.template.spec), nodeName: node },
      };
      place(pod, node);
      plan.create.push(pod);
    }
  }
  for (const p of [...live].sort((a, b) =>
    cmp(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`),
  )) {
    if (p.spec.nodeName) continue;
    const node = pick(ownerKey(p));
    place(p, node);
    plan.bind.push({ pod: p, nodeName: node });
  }
  return plan;
}

function ownerKey(p: Pod): string {
  const by = p.metadata.annotations?.[CREATED_BY_ANNOTATION];
  return by ? `${p.metadata.namespace}/${by}` : '';
}

function refOf(p: Pod): PodRef {
  return { namespace: p.metadata.namespace, name: p.metadata.name };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** kube-controller-manager's pod name: the owner's name and five random lowercase alphanumerics. */
export function randomPodName(base: string): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += alphabet[Math.floor(Math.random() * alphabet.length)];
  return `${base.slice(0, 57)}-${suffix}`;
}
