import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { Cidr } from '../../src/api/ip.js';
import { LeaseStore } from '../../src/overlay/lease-store.js';
import { parseSubnetEnv } from '../../src/overlay/subnet-env.js';
import { OverlayLab, until, type Pod } from '../support/overlay-lab.js';
import { useOverlayLab } from '../support/use-overlay-lab.js';

/*
 * Three node namespaces on a switch namespace, etcd on a Unix socket, one
 * `keel network run` per node, pods made by the stock CNI plugins from
 * `keel network cni-config`. Address plan: see test/support/overlay-lab.ts.
 */
const BACKENDS = ['vxlan', 'udp', 'host-gw'] as const;

describe.each(BACKENDS)('overlay e2e: %s backend', (backend) => {
  const lab = new OverlayLab();
  const subnets: Cidr[] = [];
  let pods: Pod[] = [];
  let store: LeaseStore;

  useOverlayLab(lab, async () => {
    await lab.init(backend);
    for (const env of await lab.startAgents([1, 2, 3])) subnets.push(parseSubnetEnv(env).subnet as Cidr);
    pods = await lab.addPods([1, 2, 3]);
    for (const p of pods) {
      lab.serve(p.ns, 'TCP', 8080);
      lab.serve(p.ns, 'UDP', 9090);
    }
    lab.serve(lab.inet, 'TCP', 8081, lab.outsideIp);
    store = new LeaseStore(lab.kv(), lab.prefix);
  });

  it('gives every node a distinct subnet, a flannel lease and a flannel subnet.env', async () => {
    expect(new Set(subnets.map((s) => s.text)).size).toBe(3);
    const { leases } = await store.list();
    expect(leases.map((l) => l.subnet.text).sort()).toEqual(subnets.map((s) => s.text).sort());
    for (const [k, s] of subnets.entries()) {
      const lease = leases.find((l) => l.subnet.text === s.text);
      expect(lease?.attrs.publicIp.text).toBe(lab.nodeIp(k + 1));
      expect(lease?.attrs.backendType).toBe(backend);
      expect(pods[k]?.ip.startsWith(s.text.split('.').slice(0, 3).join('.'))).toBe(true);
    }
    if (backend === 'vxlan') {
      const link = String((await execa('ip', ['-n', lab.nodes[0] as string, '-j', 'link', 'show', 'flannel.1'])).stdout);
      const mac = (JSON.parse(link) as Array<{ address: string }>)[0]?.address;
      const raw = await lab.kv().get(store.keyOf({ subnet: subnets[0] as Cidr }));
      expect(raw?.value.toString()).toBe(
        `{"PublicIP":"${lab.nodeIp(1)}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`,
      );
    }
  });

  it('carries TCP and UDP between pods on different nodes, without masquerade', async () => {
    for (const [from, to] of [
      [0, 1],
      [1, 2],
      [2, 0],
    ] as const) {
      const a = pods[from] as Pod;
      const b = pods[to] as Pod;
      expect(await lab.ask(a.ns, 'TCP', b.ip, 8080)).toBe(a.ip);
      expect(await lab.ask(a.ns, 'UDP', b.ip, 9090)).toBe(a.ip);
    }
  });

  it('masquerades pod traffic leaving the Network', async () => {
    expect(await lab.ask((pods[0] as Pod).ns, 'TCP', lab.outsideIp, 8081)).toBe(lab.nodeIp(1));
    const nat = String((await execa('ip', ['netns', 'exec', lab.nodes[0] as string, 'iptables-save', '-t', 'nat'])).stdout);
    expect(nat).toContain('-A POSTROUTING -m comment --comment "keel overlay: masquerade" -j KEEL-POSTRTG');
    expect(nat.match(/-j KEEL-POSTRTG/g)).toHaveLength(1);
  });

  it('reports its work in /metrics', async () => {
    const text = await lab.metrics(1);
    expect(text).toMatch(/keel_overlay_lease_acquisitions_total\{how="new"\} 1/);
    if (backend === 'udp') {
      expect(Number(/keel_overlay_udp_packets_total\{direction="encap"\} (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
      expect(Number(/keel_overlay_udp_bytes_total\{direction="decap"\} (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
    } else {
      expect(text).toMatch(/keel_overlay_routes_programmed\{kind="route"\} 2/);
    }
  });

  // udp routes nothing per node (one connected route into the TUN), so there is no owned route to delete.
  if (backend !== 'udp')
    it('restores a route someone deleted and never touches a route it does not own', async () => {
      const node1 = lab.nodes[0] as string;
      const s2 = (subnets[1] as Cidr).text;
      await execa('ip', ['-n', node1, 'route', 'add', '10.244.0.0/24', 'via', lab.inetIp]);
      await execa('ip', ['-n', node1, 'route', 'del', s2]);
      const ms = await until(async () => (await lab.routes(1)).includes(`${s2} via`));
      console.log(`[${backend}] deleted route restored after ${ms} ms`);
      expect(await lab.routes(1)).toContain(`10.244.0.0/24 via ${lab.inetIp}`);
      await execa('ip', ['-n', node1, 'route', 'del', '10.244.0.0/24']);
    });

  it("keeps a restarted node's subnet (same PublicIP)", async () => {
    await lab.stopAgent(2);
    const env = parseSubnetEnv(await lab.startAgent(2));
    expect(env.subnet?.text).toBe((subnets[1] as Cidr).text);
    expect(await lab.ask((pods[0] as Pod).ns, 'TCP', (pods[1] as Pod).ip, 8080)).toBe((pods[0] as Pod).ip);
  });

  it('takes its own lease back at once when someone deletes it while it runs', async () => {
    const s2 = { subnet: subnets[1] as Cidr };
    await store.delete(s2);
    const ms = await until(async () => (await store.get(s2))?.attrs.publicIp.text === lab.nodeIp(2));
    console.log(`[${backend}] own lease deleted → re-acquired after ${ms} ms`);
    expect(await lab.ask((pods[0] as Pod).ns, 'TCP', (pods[1] as Pod).ip, 8080)).toBe((pods[0] as Pod).ip);
  });

  it('drops a deleted lease from the other nodes, and the node gets its subnet back from subnet.env', async () => {
    const s3 = subnets[2] as Cidr;
    await lab.stopAgent(3);
    await store.delete({ subnet: s3 });
    if (backend !== 'udp') {
      const ms = await until(async () => !(await lab.routes(1)).includes(s3.text) && !(await lab.routes(2)).includes(s3.text));
      console.log(`[${backend}] lease deleted → routes gone on both other nodes after ${ms} ms`);
    }
    // Another node's lease for that subnet would block reuse; nobody took it, so subnet.env brings it back.
    const env = parseSubnetEnv(await lab.startAgent(3));
    expect(env.subnet?.text).toBe(s3.text);
    expect((await store.get({ subnet: s3 }))?.attrs.publicIp.text).toBe(lab.nodeIp(3));
    expect(await lab.ask((pods[0] as Pod).ns, 'UDP', (pods[2] as Pod).ip, 9090)).toBe((pods[0] as Pod).ip);
  });

  it("lets a dead node's lease expire, and the other nodes drop it", async () => {
    const s3 = subnets[2] as Cidr;
    await lab.stopAgent(3);
    await lab.startAgent(3, ['--lease-ttl', '5']);
    await lab.stopAgent(3, 'SIGKILL');
    const ms = await until(async () => (await store.get({ subnet: s3 })) === undefined, 30_000);
    console.log(`[${backend}] node killed → lease expired after ${ms} ms (TTL 5 s)`);
    if (backend !== 'udp') await until(async () => !(await lab.routes(1)).includes(s3.text));
    expect(String(await lab.metrics(1))).toMatch(/keel_overlay_leases_removed_total [1-9]/);
  });
});
