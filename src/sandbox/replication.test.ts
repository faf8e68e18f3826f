import { describe, expect, it } from 'vitest';
import type { Pod } from '../api/pod.js';
import { CREATED_BY_ANNOTATION, planReplication } from './replication.js';
import type { Workload } from './workload.js';

const nodes = ['node-1', 'node-2', 'node-3'];

function rc(name: string, replicas: number): Workload {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { name } },
      template: { metadata: { labels: { name } }, spec: { containers: [{ name, image: 'nginx' }] } },
    },
  };
}

function pod(name: string, owner: string | undefined, node: string | undefined, phase: 'Running' | 'Failed' = 'Running'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ...(owner ? { annotations: { [CREATED_BY_ANNOTATION]: owner } } : {}) },
    spec: { ...(node ? { nodeName: node } : {}), containers: [{ name: 'c' }] },
    status: { phase },
  };
}

let n = 0;
const names = (base: string): string => `${base}-${++n}`;

describe('planReplication', () => {
  it('creates the missing replicas on different nodes, avoiding loaded ones', () => {
    n = 0;
    const plan = planReplication([rc('nginx', 2)], [pod('other', undefined, 'node-1')], nodes, names);
    expect(plan.create.map((p) => [p.metadata.name, p.spec.nodeName, p.metadata.labels])).toEqual([
      ['nginx-1', 'node-2', { name: 'nginx' }],
      ['nginx-2', 'node-3', { name: 'nginx' }],
    ]);
    expect(plan.remove).toEqual([]);
  });

  it('replaces a failed pod and removes pods of a deleted controller', () => {
    n = 0;
    const plan = planReplication(
      [rc('nginx', 2)],
      [
        pod('nginx-a', 'ReplicationController/nginx', 'node-1'),
        pod('nginx-b', 'ReplicationController/nginx', 'node-2', 'Failed'),
        pod('gone-x', 'ReplicationController/gone', 'node-3'),
      ],
      nodes,
      names,
    );
    expect(plan.remove.map((r) => r.name).sort()).toEqual(['gone-x', 'nginx-b']);
    expect(plan.create.map((p) => p.spec.nodeName)).toEqual(['node-2']);
  });

  it('scales down the newest and binds unassigned pods', () => {
    const a = pod('nginx-a', 'ReplicationController/nginx', 'node-1');
    a.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
    const b = pod('nginx-b', 'ReplicationController/nginx', 'node-2');
    b.metadata.creationTimestamp = '2026-01-02T00:00:00Z';
    const plan = planReplication([rc('nginx', 1)], [a, b, pod('loose', undefined, undefined)], nodes, names);
    expect(plan.remove.map((r) => r.name)).toEqual(['nginx-b']);
    expect(plan.bind.map((x) => [x.pod.metadata.name, x.nodeName])).toEqual([['loose', 'node-3']]);
  });
});
