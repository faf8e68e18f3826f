/**
 * `keel agent --nodeport-addresses` follows the node's addresses as
 * kube-proxy does (proxier.go reads nodePortAddresses.GetNodeIPs on every
 * sync): an address in the given range, added after the agent started,
 * answers NodePorts after the next periodic sync, with no restart.
 *
 * Address plan (run suffix R):
 *   knp-R-node  172.30.0.1/24 to knp-R-ext, 10.244.1.1/24 to the pod; forwards;
 *               172.30.5.1/32 on lo added by the test
 *   knp-R-ext   external client 172.30.0.2/24; routes 172.30.5.0/24 via the node
 *   knp-R-p1    pod 10.244.1.2 (node "node-1"), answers "p1" on TCP 8080
 * Service web: NodePort 30080 → the pod's 8080; the agent runs with
 * --nodeport-addresses 172.30.5.0/24 and a 1-s sync period.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgentLab } from './proxy-agent-lab.js';
import { sh } from './proxy-iptables-lab.js';

const agentLab = new ProxyAgentLab('knp');
const { lab, traffic } = agentLab;
let ns = { node: '', ext: '', p1: '' };

beforeAll(async () => {
  await agentLab.startEtcd();
  await agentLab.putObjects({
    'services/specs/default/web': {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] },
    },
    'services/endpoints/default/web': {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'web', namespace: 'default' },
      subsets: [{ addresses: [{ ip: '10.244.1.2', nodeName: 'node-1' }], ports: [{ port: 8080 }] }],
    },
  });
  ns = await agentLab.nodeExtPod(['172.30.5.0/24']);
  await agentLab.startAgent(ns.node, { KEEL_NODEPORT_ADDRESSES: '172.30.5.0/24', KEEL_IPTABLES_SYNC_PERIOD: '1s' });
}, 60_000);

afterAll(async () => {
  await agentLab.destroy();
});

describe('--nodeport-addresses on a running agent', () => {
  it('answers the NodePort on no address while the node has none in the range', async () => {
    expect((await traffic.call(ns.ext, '172.30.0.1', 30080, 'tcp', 1)).answers).toEqual({});
    expect(await lab.exec(ns.node, 'iptables-save', ['-t', 'nat'])).not.toMatch(/-j KUBE-NODEPORTS$/m);
  });

  it('answers on an address of the range added later, after the next periodic sync', async () => {
    await sh('ip', ['-n', ns.node, 'addr', 'add', '172.30.5.1/32', 'dev', 'lo']);
    await agentLab.until('a NodePort rule for 172.30.5.1', async () =>
      (await lab.exec(ns.node, 'iptables-save', ['-t', 'nat'])).includes('-A KUBE-SERVICES -d 172.30.5.1/32'),
    );
    expect(await traffic.call(ns.ext, '172.30.5.1', 30080, 'tcp', 3)).toEqual({ answers: { p1: 3 }, errors: {} });
    expect((await traffic.call(ns.ext, '172.30.0.1', 30080, 'tcp', 1)).answers).toEqual({});
    const logged = agentLab.stderr.split('\n').find((l) => l.includes('msg="NodePort addresses changed"'));
    expect(logged).toMatch(/ from=none to=172\.30\.5\.1( |$)/);
  });
});
