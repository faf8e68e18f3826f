import { describe, expect, it } from 'vitest';
import { namespacedName, type ClusterSnapshot } from '../api/cluster-state.js';
import { validateEndpointSlice } from '../api/endpoint-slice.js';
import type { Endpoints } from '../api/endpoints.js';
import { parseCidr, parseIp } from '../api/ip.js';
import type { Pod } from '../api/pod.js';
import type { Service } from '../api/service.js';
import type { Lease } from '../overlay/lease.js';
import { clusterGraph, type ClusterGraphInput } from './cluster-graph.js';
import { desiredEndpoints } from './endpoints-controller.js';
import { nginxService } from './testing/nginx-service.js';

// Address plan: nodes 172.30.0.1-2 with pod subnets 10.244.1.0/24 and 10.244.2.0/24, services in 10.96.0.0/12.

const svc = nginxService;

function pod(name: string, node: string, ip: string, mutate: (p: Pod) => void = () => undefined): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { name: 'nginx' }, uid: `uid-${name}` },
    spec: {
      nodeName: node,
      containers: [{ name: 'nginx', image: 'nginx', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }],
    },
    status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  };
  mutate(p);
  return p;
}

function lease(subnet: string, publicIp: string): Lease {
  return { subnet: parseCidr(subnet)!, attrs: { publicIp: parseIp(publicIp)!, backendType: 'vxlan' } };
}

function input(services: Service[], pods: Pod[], leases: Lease[], extraEndpoints: Endpoints[] = []): ClusterGraphInput {
  const endpoints = new Map(desiredEndpoints(services, pods));
  for (const e of extraEndpoints) endpoints.set(namespacedName(e.metadata.namespace, e.metadata.name), e);
  const snapshot: ClusterSnapshot = {
    revision: 7,
    services: new Map(services.map((s) => [namespacedName(s.metadata.namespace, s.metadata.name), s])),
    endpoints,
    pods: new Map(pods.map((p) => [namespacedName(p.metadata.namespace, p.metadata.name), p])),
  };
  return {
    sandbox: { id: 'a1b2', proxyMode: 'iptables', backend: 'vxlan' },
    nodes: [
      { name: 'node-1', ips: ['172.30.0.1'], agent: 'healthy' },
      { name: 'node-2', ips: ['172.30.0.2'], agent: 'stopped' },
    ],
    leases,
    snapshot,
  };
}

const seed004 = (): ClusterGraphInput =>
  input(
    [
      svc('web'),
      svc('web-np', (s) => {
        s.spec.type = 'NodePort';
        s.spec.clusterIP = '10.96.0.21';
        s.spec.ports = [{ protocol: 'TCP', port: 8000, targetPort: 80, nodePort: 30080 }];
      }),
    ],
    [
      pod('web-b', 'node-2', '10.244.2.2'),
      pod('web-a', 'node-1', '10.244.1.2', (p) => {
        p.status!.containerStatuses = [{ name: 'nginx', ready: true, imageID: 'nginx' }];
      }),
      pod('idle', 'node-2', '10.244.2.3', (p) => {
        p.metadata.labels = {};
        p.status!.conditions = [];
      }),
    ],
    [lease('10.244.2.0/24', '172.30.0.2'), lease('10.244.1.0/24', '172.30.0.1')],
  );

describe('clusterGraph', () => {
  it('draws nodes with their subnets, their pods (with the program they run) and NodePorts, and services pointing at their endpoints', () => {
    expect(clusterGraph(seed004())).toBe(String.raw`digraph keel {
  graph [rankdir=LR, compound=true, fontname="sans-serif", fontsize=12, labelloc=t, label="keel sandbox a1b2: proxy iptables, backend vxlan"];
  node [fontname="sans-serif", fontsize=11, shape=box, style="rounded,filled", fillcolor=white];
  edge [fontname="sans-serif", fontsize=10];
  subgraph cluster_0 {
    label="node-1\n172.30.0.1\npods 10.244.1.0/24\nagent healthy"; style="rounded,filled"; fillcolor="#eef2f7";
    "node/node-1" [shape=point, style=invis];
    "pod/default/web-a" [fillcolor="#dcfce7", label="web-a\n10.244.1.2\nnginx"];
    "nodeport/node-1/default/web-np/30080" [shape=cds, fillcolor="#fff4d6", label="172.30.0.1:30080"];
  }
  subgraph cluster_1 {
    label="node-2\n172.30.0.2\npods 10.244.2.0/24\nagent stopped"; style="rounded,filled"; fillcolor="#eef2f7";
    "node/node-2" [shape=point, style=invis];
    "pod/default/idle" [fillcolor="#fee2e2", label="idle\n10.244.2.3\nnot ready"];
    "pod/default/web-b" [fillcolor="#dcfce7", label="web-b\n10.244.2.2"];
    "nodeport/node-2/default/web-np/30080" [shape=cds, fillcolor="#fff4d6", label="172.30.0.2:30080"];
  }
  "svc/default/web" [shape=ellipse, fillcolor="#dbeafe", label="web\nClusterIP 10.96.0.20\n8001/TCP"];
  "svc/default/web" -> "pod/default/web-a" [label="80/TCP"];
  "svc/default/web" -> "pod/default/web-b" [label="80/TCP"];
  "svc/default/web-np" [shape=ellipse, fillcolor="#dbeafe", label="web-np\nNodePort 10.96.0.21\n8000:30080/TCP"];
  "nodeport/node-1/default/web-np/30080" -> "svc/default/web-np" [style=dashed];
  "nodeport/node-2/default/web-np/30080" -> "svc/default/web-np" [style=dashed];
  "svc/default/web-np" -> "pod/default/web-a" [label="80/TCP"];
  "svc/default/web-np" -> "pod/default/web-b" [label="80/TCP"];
}
`);
  });

  it('draws the same edges from EndpointSlices when they are the source, the v1 Endpoints then unread', () => {
    const g = seed004();
    const endpointSlices = new Map(
      [...g.snapshot.endpoints].map(([key, eps]) => [
        key,
        eps.subsets.map((subset, i) =>
          validateEndpointSlice({
            apiVersion: 'discovery.k8s.io/v1',
            kind: 'EndpointSlice',
            metadata: {
              namespace: 'default',
              name: `${eps.metadata.name}-${i}`,
              labels: { 'kubernetes.io/service-name': eps.metadata.name },
            },
            addressType: 'IPv4',
            endpoints: [
              ...subset.addresses.map((a) => ({
                addresses: [a.ip],
                conditions: { ready: true },
                nodeName: a.nodeName,
                targetRef: a.targetRef,
              })),
              ...subset.notReadyAddresses.map((a) => ({ addresses: [a.ip], conditions: { ready: false }, nodeName: a.nodeName })),
            ],
            ports: subset.ports.map((p) => ({ port: p.port, protocol: p.protocol })),
          }),
        ),
      ]),
    );
    const fromSlices = clusterGraph({ ...g, snapshot: { ...g.snapshot, endpoints: new Map(), endpointSlices } });
    expect(fromSlices).toBe(clusterGraph(g));
    expect(fromSlices).toContain('"svc/default/web" -> "pod/default/web-a" [label="80/TCP"];');
  });

  it('gives the same text whatever order the objects and leases come in', () => {
    const a = seed004();
    const b: ClusterGraphInput = {
      ...a,
      leases: [...a.leases].reverse(),
      snapshot: { ...a.snapshot, pods: new Map([...a.snapshot.pods].reverse()), services: new Map([...a.snapshot.services].reverse()) },
    };
    expect(clusterGraph(b)).toBe(clusterGraph(a));
  });

  it('escapes quotes, backslashes and newlines in names, so no name ends a string or adds an attribute', () => {
    // A name with a quote and a backslash, in a namespace holding a line break (etcd holds whatever was written).
    const g = clusterGraph(
      input(
        [svc('web')],
        [
          pod('a"b\\c', 'node-1', '10.244.1.2', (p) => {
            p.metadata.namespace = 'x\ny';
          }),
        ],
        [],
      ),
    );
    expect(g).toContain(String.raw`"pod/x y/a\"b\\c" [fillcolor="#dcfce7", label="x y/a\"b\\c\n10.244.1.2"];`);
    expect(g.split('\n').filter((l) => l.includes('a\\"b'))).toHaveLength(1);
  });

  it('draws endpoints that name no known pod, host-network endpoints at their node, not-ready addresses, pods off the nodes and leases of unknown nodes', () => {
    const manual: Endpoints = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'external', namespace: 'default' },
      subsets: [
        {
          addresses: [{ ip: '10.9.9.9' }, { ip: '172.30.0.2' }],
          notReadyAddresses: [{ ip: '10.244.1.2' }],
          ports: [{ port: 443, protocol: 'TCP' }],
        },
      ],
    };
    const g = clusterGraph(
      input(
        [
          svc('external', (s) => {
            delete s.spec.selector;
            s.spec.clusterIP = 'None';
          }),
        ],
        [pod('web-a', 'node-1', '10.244.1.2'), pod('lost', 'node-9', '10.244.9.2')],
        [lease('10.244.7.0/24', '172.30.0.7')],
        [manual],
      ),
    );
    expect(g).toContain('"ip/10.9.9.9" [shape=box, style=dashed, label="10.9.9.9"];');
    expect(g).toContain('"svc/default/external" -> "ip/10.9.9.9" [label="443/TCP"];');
    expect(g).toContain('"svc/default/external" -> "pod/default/web-a" [label="443/TCP not ready", style=dashed];');
    expect(g).toContain('"svc/default/external" -> "node/node-2" [label="443/TCP", lhead=cluster_1];');
    expect(g).toContain(String.raw`label="external\nClusterIP None\n8001/TCP"`);
    expect(g).toMatch(/^ {2}"pod\/default\/lost" /m);
    expect(g).toContain(String.raw`"lease/10.244.7.0/24" [shape=note, label="subnet 10.244.7.0/24\nvia 172.30.0.7"];`);
  });
});
