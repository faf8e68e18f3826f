/**
 * Terminating endpoints as the fallback (#14 item 8), through the real
 * kernel: kube-proxy's CategorizeEndpoints (ProxyTerminatingEndpoints) sends
 * a service port's traffic to its serving-but-terminating endpoints only
 * when it has no ready one. The EndpointSlices are stored as kube-apiserver
 * stores them (protobuf, encoded by the test encoder) in a real etcd; a
 * `keel agent --endpoints-source auto` in a node namespace programs the
 * rules, and a real client calls the ClusterIP.
 *
 * Address plan (run suffix R):
 *   kk8-R-node  172.30.0.1/24 to kk8-R-ext (default route via .2); 10.244.1.1/24 to p1, 10.244.2.1/24 to p2; forwards
 *   kk8-R-ext   client 172.30.0.2/24; routes 10.96.0.0/12 via the node
 *   kk8-R-p1    pod 10.244.1.2 (node "node-1"), answers "p1" on TCP 8080
 *   kk8-R-p2    pod 10.244.2.2 (node "node-1"), answers "p2" on TCP 8080
 * Service web: ClusterIP 10.96.0.40:80 → 8080, its endpoints in two slices (web-p1, web-p2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeK8sProtobuf } from '../../src/api/testing/k8s-protobuf-encoder.js';
import { ProxyAgentLab } from './proxy-agent-lab.js';
import { link, sh } from './proxy-iptables-lab.js';
import type { Tally } from './proxy-iptables-traffic.js';

const agentLab = new ProxyAgentLab('kk8');
const { lab, traffic } = agentLab;
const ns = { node: '', ext: '', p1: '', p2: '' };

type Conditions = { ready: boolean; serving: boolean; terminating: boolean };
const READY: Conditions = { ready: true, serving: true, terminating: false };
const DRAINING: Conditions = { ready: false, serving: true, terminating: true };
const GONE: Conditions = { ready: false, serving: false, terminating: true };

async function putSlice(pod: 'p1' | 'p2', ip: string, conditions: Conditions): Promise<void> {
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `web-${pod}`, namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [ip], conditions, nodeName: 'node-1' }],
    ports: [{ name: '', protocol: 'TCP', port: 8080 }],
  };
  await agentLab.kv.put(`/registry/endpointslices/default/web-${pod}`, encodeK8sProtobuf(slice));
}

/** Calls until the tally is the one wanted (the agent applies each change asynchronously); returns the last tally. */
async function callsUntil(want: Tally, timeoutMs = 30_000): Promise<Tally> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await traffic.call(ns.ext, '10.96.0.40', 80, 'tcp', 4);
    if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  const kv = await agentLab.startEtcd();
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.40',
      clusterIPs: ['10.96.0.40'],
      ports: [{ name: '', protocol: 'TCP', port: 80, targetPort: 8080 }],
    },
  };
  await kv.put('/registry/services/specs/default/web', encodeK8sProtobuf(svc));
  await putSlice('p1', '10.244.1.2', READY);
  await putSlice('p2', '10.244.2.2', DRAINING);
  ns.node = await lab.netns('node');
  ns.ext = await lab.netns('ext');
  ns.p1 = await lab.netns('p1');
  ns.p2 = await lab.netns('p2');
  await link(ns.node, ns.ext, lab.link('x'), '172.30.0.1/24', '172.30.0.2/24');
  await link(ns.node, ns.p1, lab.link('p1'), '10.244.1.1/24', '10.244.1.2/24');
  await link(ns.node, ns.p2, lab.link('p2'), '10.244.2.1/24', '10.244.2.2/24');
  await sh('ip', ['-n', ns.p1, 'route', 'add', 'default', 'via', '10.244.1.1']);
  await sh('ip', ['-n', ns.p2, 'route', 'add', 'default', 'via', '10.244.2.1']);
  await sh('ip', ['-n', ns.ext, 'route', 'add', '10.96.0.0/12', 'via', '172.30.0.1']);
  // A default route, as every real node has: a ClusterIP without endpoints is then rejected by the
  // filter rules in FORWARD, not unroutable; no ICMP rate limit, so each rejected call is refused.
  await sh('ip', ['-n', ns.node, 'route', 'add', 'default', 'via', '172.30.0.2']);
  await lab.exec(ns.node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.icmp_ratelimit=0']);
  await traffic.serve(ns.p1, 'p1', 8080, 5353);
  await traffic.serve(ns.p2, 'p2', 8080, 5353);
  await agentLab.startAgent(ns.node, { KEEL_ENDPOINTS_SOURCE: 'auto' });
}, 90_000);

afterAll(async () => {
  await agentLab.destroy();
});

describe('serving terminating endpoints, through the kernel', () => {
  it('are left out while the port has a ready endpoint', async () => {
    expect(await callsUntil({ answers: { p1: 4 }, errors: {} })).toEqual({ answers: { p1: 4 }, errors: {} });
    expect(await traffic.call(ns.ext, '10.96.0.40', 80, 'tcp', 8)).toEqual({ answers: { p1: 8 }, errors: {} });
    const nat = await lab.exec(ns.node, 'iptables-save', ['-t', 'nat']);
    expect(nat).toContain('--to-destination 10.244.1.2:8080');
    expect(nat).not.toContain('10.244.2.2');
  });

  it('take the traffic once no endpoint is ready', async () => {
    await putSlice('p1', '10.244.1.2', GONE);
    expect(await callsUntil({ answers: { p2: 4 }, errors: {} })).toEqual({ answers: { p2: 4 }, errors: {} });
    expect(await lab.exec(ns.node, 'iptables-save', ['-t', 'nat'])).not.toContain('10.244.1.2');
  });

  it('stop taking it when they stop serving: the service has no endpoints and rejects', async () => {
    await putSlice('p2', '10.244.2.2', GONE);
    expect(await callsUntil({ answers: {}, errors: { ECONNREFUSED: 4 } })).toEqual({ answers: {}, errors: { ECONNREFUSED: 4 } });
  });

  it('give way again to a ready endpoint', async () => {
    await putSlice('p2', '10.244.2.2', DRAINING);
    await putSlice('p1', '10.244.1.2', READY);
    expect(await callsUntil({ answers: { p1: 4 }, errors: {} })).toEqual({ answers: { p1: 4 }, errors: {} });
    expect(agentLab.stderr).not.toMatch(/level=error/);
  });
});
