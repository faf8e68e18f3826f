/**
 * A stored Service with a few entries that are no address: `keel agent`
 * leaves those entries out, logs and counts each, and programs the rest of
 * the service and every other service, as kube-proxy does
 * (kubernetes pkg/proxy/serviceport.go newBaseServiceInfo, through
 * pkg/proxy/util/utils.go MapIPsByIPFamily and MapCIDRsByIPFamily). The
 * objects are written straight to a real etcd, as a writer without
 * kube-apiserver's validation would leave them; the agent runs in a node
 * namespace and real clients call through the kernel's rules.
 *
 * Address plan (run suffix R):
 *   kf2-R-node  172.30.0.1/24 to kf2-R-ext, 10.244.1.1/24 to the pod; forwards
 *   kf2-R-ext   external client 172.30.0.2/24; routes 10.96.0.0/12 and 172.30.1.0/24 via the node
 *   kf2-R-p1    pod 10.244.1.2 (node "node-1"), answers "p1" on TCP 8080
 * Services (endpoints: the pod, port 8080):
 *   mixed  LoadBalancer 10.96.0.10:80 NodePort 30080; externalIPs 172.30.1.10, "172.30.1.x", "";
 *          LB ingress "lb.invalid", 172.30.1.150; sourceRanges 172.30.0.0/24, "10.0.0.0/33"
 *   shut   LoadBalancer 10.96.0.20:80 NodePort 30081, LB IP 172.30.1.160 (bound on the node's lo),
 *          sourceRanges "not-a-cidr" only
 *   plain  ClusterIP 10.96.0.30:80
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgentLab } from './proxy-agent-lab.js';
import { sh } from './proxy-iptables-lab.js';

const agentLab = new ProxyAgentLab('kf2');
const { lab, traffic } = agentLab;
let ns = { node: '', ext: '', p1: '' };

const lb = (name: string, clusterIP: string, nodePort: number | undefined, extra: Record<string, unknown>, ingress: unknown[]) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { type: 'LoadBalancer', clusterIP, ports: [{ port: 80, targetPort: 8080, ...(nodePort ? { nodePort } : {}) }], ...extra },
  status: { loadBalancer: { ingress } },
});
const STORED = {
  'services/specs/default/mixed': lb(
    'mixed',
    '10.96.0.10',
    30080,
    { externalIPs: ['172.30.1.10', '172.30.1.x', ''], loadBalancerSourceRanges: ['172.30.0.0/24', '10.0.0.0/33'] },
    [{ ip: 'lb.invalid' }, { ip: '172.30.1.150' }],
  ),
  'services/specs/default/shut': lb('shut', '10.96.0.20', 30081, { loadBalancerSourceRanges: ['not-a-cidr'] }, [{ ip: '172.30.1.160' }]),
  'services/specs/default/plain': {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'plain', namespace: 'default' },
    spec: { clusterIP: '10.96.0.30', ports: [{ port: 80, targetPort: 8080 }] },
  },
  ...Object.fromEntries(
    ['mixed', 'shut', 'plain'].map((name) => [
      `services/endpoints/default/${name}`,
      {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name, namespace: 'default' },
        subsets: [{ addresses: [{ ip: '10.244.1.2', nodeName: 'node-1' }], ports: [{ port: 8080 }] }],
      },
    ]),
  ),
};

beforeAll(async () => {
  await agentLab.startEtcd();
  await agentLab.putObjects(STORED);
  ns = await agentLab.nodeExtPod(['10.96.0.0/12', '172.30.1.0/24']);
  // The shut LB IP is bound on the node, as VIP-style load balancers do: what the firewall drops never reaches a socket.
  await sh('ip', ['-n', ns.node, 'addr', 'add', '172.30.1.160/32', 'dev', 'lo']);
  await agentLab.startAgent(ns.node);
}, 60_000);

afterAll(async () => {
  await agentLab.destroy();
});

describe('invalid address-list entries of a stored service', () => {
  it('serves the valid external IP, LB IP and NodePort of the same service, and the other services', async () => {
    expect(await traffic.call(ns.ext, '172.30.1.10', 80, 'tcp', 2)).toEqual({ answers: { p1: 2 }, errors: {} });
    expect(await traffic.call(ns.ext, '172.30.1.150', 80, 'tcp', 2)).toEqual({ answers: { p1: 2 }, errors: {} });
    expect(await traffic.call(ns.ext, '172.30.0.1', 30080, 'tcp', 2)).toEqual({ answers: { p1: 2 }, errors: {} });
    expect(await traffic.call(ns.ext, '10.96.0.10', 80, 'tcp', 2)).toEqual({ answers: { p1: 2 }, errors: {} });
    expect(await traffic.call(ns.ext, '10.96.0.30', 80, 'tcp', 2)).toEqual({ answers: { p1: 2 }, errors: {} });
    // The shut service's cluster IP and NodePort are unaffected by its unusable source ranges.
    expect(await traffic.call(ns.ext, '10.96.0.20', 80, 'tcp', 1)).toEqual({ answers: { p1: 1 }, errors: {} });
    expect(await traffic.call(ns.ext, '172.30.0.1', 30081, 'tcp', 1)).toEqual({ answers: { p1: 1 }, errors: {} });
    const dig = await lab.exec(ns.node, 'dig', ['+short', '@172.30.0.1', 'mixed.default.svc.cluster.local']);
    expect(dig.trim()).toBe('10.96.0.10');
  });

  // keel differs here on purpose: kube-proxy, left with no range, writes no firewall and lets every source in.
  it('keeps an LB IP whose every source range is invalid firewalled, with no source allowed', async () => {
    expect(await traffic.call(ns.ext, '172.30.1.160', 80, 'tcp', 1)).toEqual({ answers: {}, errors: { ETIMEDOUT: 1 } });
  });

  it('writes no invalid text into the kernel, and logs and counts each left-out entry once', async () => {
    const rules = await lab.exec(ns.node, 'iptables-save', []);
    for (const text of ['172.30.1.x', 'lb.invalid', '10.0.0.0/33', 'not-a-cidr']) expect(rules).not.toContain(text);
    const m = await agentLab.metrics();
    const count = (field: string) =>
      Number(new RegExp(`^keel_watch_ignored_fields_total\\{resource="services",field="${field}"\\} (\\d+)$`, 'm').exec(m)?.[1] ?? -1);
    expect([count('spec.externalIPs'), count('status.loadBalancer.ingress.ip'), count('spec.loadBalancerSourceRanges')]).toEqual([1, 1, 2]);
    expect(m).not.toMatch(/^keel_watch_invalid_objects_total\{resource="services"\}/m);
    const lines = agentLab.stderr.split('\n').filter((l) => l.includes('msg="ignoring an invalid entry; the rest of the service is used"'));
    expect(lines.map((l) => /field="([^"]+)"/.exec(l)?.[1]).sort()).toEqual([
      'spec.externalIPs[1]',
      'spec.loadBalancerSourceRanges[0]',
      'spec.loadBalancerSourceRanges[1]',
      'status.loadBalancer.ingress[0].ip',
    ]);
    expect(lines.find((l) => l.includes('spec.externalIPs[1]'))).toMatch(
      /level=warn component=\S*service-view object="service default\/mixed" field="spec\.externalIPs\[1\]" value=172\.30\.1\.x reason="is not an IP address"/,
    );
  });
});
