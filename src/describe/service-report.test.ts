import { describe, expect, it } from 'vitest';
import { validatePod, type Pod } from '../api/pod.js';
import type { ClusterSnapshot } from '../api/cluster-state.js';
import { compileRules, DEFAULT_MASQUERADE_BIT, type NodeConfig } from '../proxy-iptables/compile.js';
import { renderRestore } from '../proxy-iptables/render-restore.js';
import { kernelViewOf } from '../proxy-iptables/sync-plan.js';
import { validateEndpointSlice } from '../api/endpoint-slice.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';
import { describeService } from './service-report.js';

// Address plan: services 10.96.0.0/12, pods 10.244.1.0/24 on node-1, 10.244.2.0/24 on node-2.
const node: NodeConfig = {
  nodeName: 'node-1',
  masqueradeBit: DEFAULT_MASQUERADE_BIT,
  clusterCidr: '10.244.0.0/16',
  nodeIPs: ['172.30.0.1'],
};

function pod(name: string, ip: string, nodeName: string, ready: boolean, portName = 'http'): Pod {
  return validatePod({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: 'default', name, labels: { app: 'web' } },
    spec: { nodeName, containers: [{ name: 'c', ports: [{ name: portName, containerPort: 8080 }] }] },
    status: { phase: ready ? 'Running' : 'Pending', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
}

const web = makeService('default', 'web', (s) => {
  s.type = 'NodePort';
  s.clusterIP = '10.96.0.10';
  s.selector = { app: 'web' };
  s.ports = [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }];
});

function cluster(pods: Pod[], mutate?: (s: ReturnType<typeof makeService>) => void): ClusterSnapshot {
  const svc = structuredClone(web);
  mutate?.(svc);
  const eps = makeEndpoints(
    'default',
    'web',
    pods
      .filter((p) => p.spec.containers[0]?.ports?.[0]?.name === 'http')
      .map((p) => ({ ip: p.status?.podIP ?? '', node: p.spec.nodeName ?? '', ready: p.status?.phase === 'Running' })),
    [{ name: 'http', port: 8080 }],
  );
  const snap = snapshotOf([svc], [eps]);
  return { ...snap, pods: new Map(pods.map((p) => [`default/${p.metadata.name}`, p])) };
}

const problems = (text: string): string => text.slice(text.indexOf('\nProblems:\n') + 11);

describe('describeService', () => {
  it('prints the whole picture of a working service, with the kernel in sync', () => {
    const snap = cluster([pod('web-1', '10.244.1.5', 'node-1', true), pod('web-2', '10.244.2.5', 'node-2', true)]);
    const kernel = kernelViewOf({ nat: renderRestore(compileRules(snap, node)), filter: renderRestore(compileRules(snap, node)) });
    const text = describeService({
      snapshot: snap,
      namespace: 'default',
      name: 'web',
      clusterDomain: 'cluster.local',
      node: { families: [{ config: node, kernel }], proxyMode: 'iptables' },
    });
    expect(text).toMatchSnapshot();
    expect(problems(text)).toBe('  none found\n');
  });

  it('names a selector that matches nothing', () => {
    const text = describeService({ snapshot: cluster([]), namespace: 'default', name: 'web', clusterDomain: 'cluster.local' });
    expect(problems(text)).toBe('  - selector app=web matches no pods in namespace default\n');
  });

  it('names pods that match but are not ready', () => {
    const text = describeService({
      snapshot: cluster([pod('web-1', '10.244.1.5', 'node-1', false)]),
      namespace: 'default',
      name: 'web',
      clusterDomain: 'cluster.local',
    });
    expect(problems(text)).toBe('  - 1 pod matches the selector but none is ready (web-1: Pending)\n');
  });

  it('names pods without the named targetPort', () => {
    const text = describeService({
      snapshot: cluster([pod('web-1', '10.244.1.5', 'node-1', true), pod('web-2', '10.244.2.5', 'node-2', true, 'web')]),
      namespace: 'default',
      name: 'web',
      clusterDomain: 'cluster.local',
    });
    expect(problems(text)).toBe(
      '  - port http: targetPort "http" is not a TCP container port of pod web-2, so it is left out of the endpoints\n',
    );
  });

  it('names a node without a local endpoint under externalTrafficPolicy Local', () => {
    const snap = cluster([pod('web-2', '10.244.2.5', 'node-2', true)], (s) => {
      s.spec.externalTrafficPolicy = 'Local';
    });
    const text = describeService({
      snapshot: snap,
      namespace: 'default',
      name: 'web',
      clusterDomain: 'cluster.local',
      node: { families: [{ config: node }], proxyMode: 'iptables' },
    });
    expect(problems(text)).toBe(
      '  - externalTrafficPolicy is Local and no ready endpoint runs on node-1: NodePort and external traffic arriving at node-1 is dropped\n',
    );
  });

  it("names kernel rules that differ, with the agent's word", () => {
    const before = cluster([pod('web-1', '10.244.1.5', 'node-1', true)]);
    const after = cluster([pod('web-1', '10.244.1.5', 'node-1', true), pod('web-2', '10.244.2.5', 'node-2', true)]);
    const old = renderRestore(compileRules(before, node));
    const text = describeService({
      snapshot: after,
      namespace: 'default',
      name: 'web',
      clusterDomain: 'cluster.local',
      node: {
        families: [{ config: node, kernel: kernelViewOf({ nat: old, filter: old }) }],
        proxyMode: 'iptables',
        agent: { state: 'unhealthy', text: 'proxy: last successful sync 90.0s ago (limit 60s)' },
        restoreFailures: 3,
      },
    });
    expect(text).toContain('DIFFERS in the kernel');
    expect(text).toContain('MISSING from the kernel');
    expect(problems(text)).toBe(
      '  - the kernel of node-1 does not hold the rules keel wants for this service (1 chain differs, 1 chain missing); agent unhealthy: proxy: last successful sync 90.0s ago (limit 60s); 3 iptables-restore failures so far\n',
    );
  });

  it("compares each family's own tables: a dual-stack service whose IPv6 half is missing from ip6tables", () => {
    // Dual-stack address plan: services also fd00:10:96::/112, pods also fd00:10:244::/56 (fd00:10:244:1::/64 on node-1).
    const node6: NodeConfig = { ...node, family: 6, clusterCidr: 'fd00:10:244::/56', nodeIPs: ['fd00:172:30::1'] };
    const dual = (ready: boolean): ClusterSnapshot => {
      const svc = makeService('default', 'web', (s) => {
        s.clusterIP = '10.96.0.10';
        s.clusterIPs = ['10.96.0.10', 'fd00:10:96::a'];
        s.ipFamilies = ['IPv4', 'IPv6'];
        s.ipFamilyPolicy = 'RequireDualStack';
        s.ports = [{ name: 'http', port: 80, targetPort: 8080 }];
      });
      const addrs = [
        { ip: '10.244.1.5', node: 'node-1', ready },
        { ip: 'fd00:10:244:1::5', node: 'node-1', ready },
      ];
      return snapshotOf([svc], [makeEndpoints('default', 'web', addrs, [{ name: 'http', port: 8080 }])]);
    };
    const snap = dual(true);
    const v4 = renderRestore(compileRules(snap, node));
    // The IPv6 tables still hold the rules from before the endpoints were ready.
    const v6 = renderRestore(compileRules(dual(false), node6));
    const text = describeService({
      snapshot: snap,
      namespace: 'default',
      name: 'web',
      clusterDomain: 'cluster.local',
      node: {
        families: [
          { config: node, kernel: kernelViewOf({ nat: v4, filter: v4 }) },
          { config: node6, kernel: kernelViewOf({ nat: v6, filter: v6 }) },
        ],
        proxyMode: 'iptables',
      },
    });
    const nodePart = text.slice(text.indexOf('\nNode node-1:\n'), text.indexOf('\nProblems:\n'));
    expect(nodePart).toMatch(/\n {2}IPv4 \(iptables\):\n {4}Chains \(nat\):\n/);
    expect(nodePart).toMatch(/\n {2}IPv6 \(ip6tables\):\n {4}Chains \(nat\):\n/);
    const v6Part = nodePart.slice(nodePart.indexOf('IPv6 (ip6tables):'));
    const v4Part = nodePart.slice(0, nodePart.indexOf('IPv6 (ip6tables):'));
    expect(v4Part).not.toMatch(/DIFFERS|MISSING/);
    expect(v4Part).toContain('From a pod to 10.96.0.10:80/TCP:');
    expect(v6Part).toMatch(/DIFFERS in the kernel|MISSING from the kernel/);
    expect(v6Part).toContain('A sync would load (ip6tables-restore --noflush):');
    expect(v6Part).toContain('From a pod to [fd00:10:96::a]:80/TCP:');
    expect(problems(text)).toMatch(/^ {2}- the kernel of node-1 does not hold the rules keel wants for this service \(IPv6: [^)]+\)\n$/);

    // A single-stack IPv4 service on the same dual-stack node: one family, printed as before.
    const v4only = describeService({
      snapshot: cluster([pod('web-1', '10.244.1.5', 'node-1', true)]),
      namespace: 'default',
      name: 'web',
      clusterDomain: 'cluster.local',
      node: { families: [{ config: node }, { config: node6 }], proxyMode: 'iptables' },
    });
    expect(v4only).not.toContain('IPv6 (ip6tables):');
    expect(v4only).toContain('\n  Chains: ');
  });

  it('reads EndpointSlices when they are the source, as the agent does', () => {
    const pods = [pod('web-1', '10.244.1.5', 'node-1', true), pod('web-2', '10.244.2.5', 'node-2', true)];
    const slice = validateEndpointSlice({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { namespace: 'default', name: 'web-abcde', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.244.1.5'], conditions: { ready: true }, nodeName: 'node-1' },
        { addresses: ['10.244.2.5'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-2' },
      ],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    // The v1 Endpoints object is stale (it lists nothing): with slices as the source it is not read.
    const snap = { ...cluster(pods), endpoints: new Map(), endpointSlices: new Map([['default/web', [slice]]]) };
    const text = describeService({ snapshot: snap, namespace: 'default', name: 'web', clusterDomain: 'cluster.local' });
    expect(text).toMatch(/10\.244\.1\.5 +yes +node-1 +web-1 +http=8080\/TCP/);
    expect(text).toMatch(/10\.244\.2\.5 +no \(terminating, serving\) +node-2 +web-2/);
    expect(problems(text).trim()).toBe('none found');
    const none = describeService({
      snapshot: { ...snap, endpointSlices: new Map() },
      namespace: 'default',
      name: 'web',
      clusterDomain: 'cluster.local',
    });
    expect(problems(none)).toContain(
      '- there is no EndpointSlice labelled kubernetes.io/service-name=web in default (is the endpointslice controller running?)',
    );
  });
});
