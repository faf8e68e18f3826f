import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { encodeK8sProtobuf } from '../../src/api/testing/k8s-protobuf-encoder.js';
import { parseSubnetEnv } from '../../src/overlay/subnet-env.js';
import { OverlayLab, until, type Pod } from '../support/overlay-lab.js';
import { useOverlayLab } from '../support/use-overlay-lab.js';

/*
 * flannel's kube-subnet-mgr mode (--subnet-source node) on two node namespaces
 * (k8n<run>n1, k8n<run>n2; address plan in test/support/overlay-lab.ts), vxlan, one real
 * etcd holding Node objects as kube-apiserver stores them (protobuf) under
 * /registry/minions/:
 *   n1        podCIDR 10.244.7.0/24, InternalIP 172.30.X.11   — runs `keel agent` (no --node-ip)
 *   n2        podCIDRs [10.244.9.0/24], InternalIP 172.30.X.12 — runs `keel network run`
 *   flannel-3 podCIDR 10.244.11.0/24, flannel's annotations (public-ip 172.30.X.13, VtepMAC) — a node still
 *             running flannel, no keel agent (nothing answers there; its route and FDB entry are checked)
 *   nocidr    no podCIDR yet; badcidr podCIDR 10.244.300.0/24 — skipped, logged once, counted
 * The subnets are deliberately not the ones etcd-mode leasing would pick.
 */
const FLANNEL_MAC = '0e:11:22:33:44:55';

describe('overlay e2e: --subnet-source node (kube-subnet-mgr) over vxlan', () => {
  const lab = new OverlayLab('k8n', 2);
  const registryKey = (name: string): string => `/registry/minions/${name}`;
  const nodeValue = (name: string, spec: Record<string, unknown>, ip: string, annotations?: Record<string, string>): Buffer =>
    encodeK8sProtobuf({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, uid: `uid-${name}`, ...(annotations ? { annotations } : {}) },
      spec,
      status: {
        addresses: [
          { type: 'InternalIP', address: ip },
          { type: 'Hostname', address: name },
        ],
      },
    });
  const written = new Map<string, Buffer>();
  let n1 = '';
  let n2 = '';
  let pods: Pod[] = [];
  let env1 = '';
  let env2 = '';

  useOverlayLab(lab, async () => {
    await lab.init('vxlan');
    [n1, n2] = lab.nodes as [string, string];
    written.set(registryKey(n1), nodeValue(n1, { podCIDR: '10.244.7.0/24' }, lab.nodeIp(1)));
    written.set(registryKey(n2), nodeValue(n2, { podCIDRs: ['10.244.9.0/24'] }, lab.nodeIp(2)));
    written.set(
      registryKey('flannel-3'),
      nodeValue('flannel-3', { podCIDR: '10.244.11.0/24' }, '172.31.0.3', {
        'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
        'flannel.alpha.coreos.com/backend-type': 'vxlan',
        'flannel.alpha.coreos.com/public-ip': lab.nodeIp(3),
        'flannel.alpha.coreos.com/backend-data': `{"VNI":1,"VtepMAC":"${FLANNEL_MAC}"}`,
      }),
    );
    written.set(registryKey('nocidr'), nodeValue('nocidr', {}, '172.31.0.4'));
    written.set(registryKey('badcidr'), nodeValue('badcidr', { podCIDR: '10.244.300.0/24' }, '172.31.0.5'));
    for (const [key, value] of written) await lab.kv().put(key, value);
    const common = ['--subnet-source', 'node', '--node-name'];
    [env1, env2] = await Promise.all([
      lab.startAgent(1, [...common, n1, '--proxy-mode', 'none', '--no-dns', '--backend', 'vxlan'], ['agent']),
      lab.startAgent(2, [...common, n2]),
    ]);
    pods = await lab.addPods([1, 2]);
    for (const p of pods) {
      lab.serve(p.ns, 'TCP', 8080);
      lab.serve(p.ns, 'UDP', 9090);
    }
  });

  it("takes each node's subnet from its Node's podCIDR and keel agent's node IP from its InternalIP", () => {
    expect(parseSubnetEnv(env1).subnet?.text).toBe('10.244.7.0/24');
    expect(env1).toContain('FLANNEL_SUBNET=10.244.7.1/24');
    expect(parseSubnetEnv(env2).subnet?.text).toBe('10.244.9.0/24');
    expect(lab.logs.get(1)).toContain(`ip=${lab.nodeIp(1)} from="Node ${n1} InternalIP" msg="node IP"`);
    expect(pods[0]?.ip.startsWith('10.244.7.')).toBe(true);
    expect(pods[1]?.ip.startsWith('10.244.9.')).toBe(true);
  });

  it("publishes the VTEP MAC under keel's prefix and never writes under /registry", async () => {
    const link = String((await execa('ip', ['-n', n1, '-j', 'link', 'show', 'flannel.1'])).stdout);
    const mac = (JSON.parse(link) as Array<{ address: string }>)[0]?.address;
    const record = await lab.kv().get(`${lab.prefix}/nodes/${n1}`);
    expect(record?.value.toString()).toBe(
      `{"PublicIP":"${lab.nodeIp(1)}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`,
    );
    const { entries } = await lab.kv().list('/registry/');
    expect(entries.map((e) => e.key).sort()).toEqual([...written.keys()].sort());
    for (const e of entries) expect(e.value.equals(written.get(e.key) as Buffer)).toBe(true);
    expect((await lab.kv().list(`${lab.prefix}/subnets/`)).entries).toHaveLength(0);
  });

  it('carries TCP and UDP between pods on the two nodes over vxlan, without masquerade', async () => {
    const [a, b] = pods as [Pod, Pod];
    expect(await lab.ask(a.ns, 'TCP', b.ip, 8080)).toBe(a.ip);
    expect(await lab.ask(b.ns, 'TCP', a.ip, 8080)).toBe(b.ip);
    expect(await lab.ask(a.ns, 'UDP', b.ip, 9090)).toBe(a.ip);
    expect(await lab.routes(1)).toMatch(/10.244.9.0\/24 via 10.244.9.0 dev flannel.1 .*onlink/);
  });

  it("routes to a node still running flannel from its Node's flannel annotations", async () => {
    expect(await lab.routes(1)).toMatch(/10.244.11.0\/24 via 10.244.11.0 dev flannel.1 .*onlink/);
    const fdb = String((await execa('bridge', ['-n', n1, 'fdb', 'show', 'dev', 'flannel.1'])).stdout);
    expect(fdb).toContain(`${FLANNEL_MAC} dst ${lab.nodeIp(3)}`);
  });

  it('skips a Node without a podCIDR and one with a malformed podCIDR, logged once and counted', async () => {
    for (const i of [1, 2]) {
      const log = lab.logs.get(i) ?? '';
      expect(log.match(/key=\/registry\/minions\/nocidr .*msg="skipping invalid object"/g)).toHaveLength(1);
      expect(log).toMatch(/key=\/registry\/minions\/nocidr .*reason=".*spec.podCIDR is not set/);
      expect(log.match(/key=\/registry\/minions\/badcidr .*msg="skipping invalid object"/g)).toHaveLength(1);
      expect(log).toMatch(/key=\/registry\/minions\/badcidr .*reason=".*10.244.300.0\/24.* is not a CIDR/);
      expect(await lab.metrics(i)).toContain('keel_watch_invalid_objects_total{resource="nodes"} 2');
    }
    const overlayRoutes = (await lab.routes(1)).split('\n').filter((l) => l.includes('dev flannel.1'));
    expect(overlayRoutes.map((l) => l.split(' ')[0])).toEqual(['10.244.9.0/24', '10.244.11.0/24']);
  });

  it("removes a deleted Node's route, FDB entry and neighbour", async () => {
    const mac2 = (JSON.parse(String((await lab.kv().get(`${lab.prefix}/nodes/${n2}`))?.value)) as { BackendData: { VtepMAC: string } })
      .BackendData.VtepMAC;
    const fdb = async (): Promise<string> => String((await execa('bridge', ['-n', n1, 'fdb', 'show', 'dev', 'flannel.1'])).stdout);
    expect(await fdb()).toContain(`${mac2} dst ${lab.nodeIp(2)}`);
    await lab.kv().delete(registryKey(n2));
    await until(async () => !(await lab.routes(1)).includes('10.244.9.0/24'));
    const neigh = String((await execa('ip', ['-n', n1, 'neigh', 'show', 'dev', 'flannel.1'])).stdout);
    expect(neigh).not.toContain('10.244.9.0');
    expect(await fdb()).not.toContain(mac2);
    expect(await lab.routes(1)).toMatch(/10.244.11.0\/24 via 10.244.11.0 dev flannel.1 .*onlink/);
  });
});
