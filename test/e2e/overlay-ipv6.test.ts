import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { LeaseStore } from '../../src/overlay/lease-store.js';
import { parseSubnetEnv, type SubnetEnv } from '../../src/overlay/subnet-env.js';
import { OverlayLab, until, type Pod } from '../support/overlay-lab.js';
import { useOverlayLab } from '../support/use-overlay-lab.js';

/*
 * The IPv6 overlay on the real kernel: two node namespaces with a dual-stack underlay
 * (172.30.X.11-12/24 and fd00:172:30:X::11-12/64, see test/support/overlay-lab.ts), one `keel network run`
 * each, pods made by the stock bridge + host-local plugins from `keel network cni-config`.
 * Dual-stack pod network 10.244.0.0/16 + fd00:10:244::/56; IPv6-only fd00:10:244::/56.
 */
const NETWORKS = { dual: '10.244.0.0/16,fd00:10:244::/56', ipv6: 'fd00:10:244::/56' } as const;
const CASES = [
  ['vxlan', 'dual'],
  ['host-gw', 'dual'],
  ['vxlan', 'ipv6'],
] as const;

describe.each(CASES)('IPv6 overlay e2e: %s backend, %s', (backend, stack) => {
  const lab = new OverlayLab('kv6');
  const envs: SubnetEnv[] = [];
  let pods: Pod[] = [];

  useOverlayLab(lab, async () => {
    await lab.init(backend, NETWORKS[stack]);
    for (const env of await lab.startAgents([1, 2])) envs.push(parseSubnetEnv(env));
    pods = await lab.addPods([1, 2]);
    for (const p of pods) {
      lab.serve(p.ns, 'TCP6', 8086);
      lab.serve(p.ns, 'UDP6', 9096);
      if (stack === 'dual') lab.serve(p.ns, 'TCP', 8080);
    }
    lab.serve(lab.inet, 'TCP6', 8081, `[${lab.outsideIpv6}]`);
  });

  it("leases one subnet per family in flannel's key and value format, and writes flannel's subnet.env", async () => {
    const [a, b] = envs as [SubnetEnv, SubnetEnv];
    expect(a.ipv6Network?.text).toBe('fd00:10:244::/56');
    expect(a.ipv6Subnet?.prefixLength).toBe(64);
    expect(a.ipv6Subnet?.text).not.toBe(b.ipv6Subnet?.text);
    expect(a.subnet === undefined).toBe(stack === 'ipv6');
    const { leases, invalid } = await new LeaseStore(lab.kv(), lab.prefix).list();
    expect(invalid).toEqual([]);
    const mine = leases.find((l) => l.ipv6Subnet?.text === a.ipv6Subnet?.text);
    const v4 = stack === 'dual' ? (a.subnet?.text ?? '') : '0.0.0.0/0';
    expect(mine?.key.slice(mine.key.lastIndexOf('/') + 1)).toBe(`${v4.replace('/', '-')}&${a.ipv6Subnet?.text.replace('/', '-')}`);
    const raw = String((await lab.kv().get(mine?.key ?? ''))?.value);
    const publicIp = stack === 'dual' ? lab.nodeIp(1) : '0.0.0.0';
    if (backend === 'vxlan') {
      const mac = async (dev: string): Promise<string | undefined> =>
        (
          JSON.parse(String((await execa('ip', ['-n', lab.nodes[0] as string, '-j', 'link', 'show', dev])).stdout)) as Array<{
            address: string;
          }>
        )[0]?.address;
      const v4Data = stack === 'dual' ? `,"BackendData":{"VNI":1,"VtepMAC":"${await mac('flannel.1')}"}` : '';
      expect(raw).toBe(
        `{"PublicIP":"${publicIp}","PublicIPv6":"${lab.nodeIpv6(1)}","BackendType":"vxlan"${v4Data},"BackendV6Data":{"VNI":1,"VtepMAC":"${await mac('flannel-v6.1')}"}}`,
      );
    } else {
      expect(raw).toBe(`{"PublicIP":"${publicIp}","PublicIPv6":"${lab.nodeIpv6(1)}","BackendType":"host-gw"}`);
    }
  });

  it('routes the other node’s IPv6 subnet as flannel does', async () => {
    const other = envs[1]?.ipv6Subnet?.text ?? '';
    const gw = other.replace('/64', '');
    const line = (await lab.routes(1, 6)).split('\n').find((l) => l.startsWith(`${other} `)) ?? '';
    expect(line.replace(/ metric \d+| pref \w+/g, '').trim()).toBe(
      backend === 'vxlan' ? `${other} via ${gw} dev flannel-v6.1 proto 107 onlink` : `${other} via ${lab.nodeIpv6(2)} dev eth0 proto 107`,
    );
  });

  it('carries TCP and UDP between pods on the two nodes over IPv6, without masquerade', async () => {
    const [a, b] = pods as [Pod, Pod];
    expect(a.ip6).toBeDefined();
    expect(await lab.ask(a.ns, 'TCP6', b.ip6 ?? '', 8086)).toBe(a.ip6);
    expect(await lab.ask(b.ns, 'UDP6', a.ip6 ?? '', 9096)).toBe(b.ip6);
    if (stack === 'dual') expect(await lab.ask(a.ns, 'TCP', b.ip, 8080)).toBe(a.ip);
  });

  it('masquerades pod traffic leaving the IPv6 network with ip6tables, as flannel', async () => {
    expect(await lab.ask((pods[0] as Pod).ns, 'TCP6', lab.outsideIpv6, 8081)).toBe(lab.nodeIpv6(1));
    const nat = String((await execa('ip', ['netns', 'exec', lab.nodes[0] as string, 'ip6tables-save', '-t', 'nat'])).stdout);
    expect(nat).toContain('-A KEEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8');
  });

  it('skips and counts a lease whose IPv6 subnet is malformed, and keeps serving', async () => {
    await lab.kv().put(`${lab.prefix}/subnets/10.244.99.0-24&fd00:10:244:63::7-64`, '{"PublicIP":"172.30.0.99","PublicIPv6":"fd00::99"}');
    await until(async () => /keel_watch_invalid_objects_total\{resource="leases"\} [1-9]/.test(await lab.metrics(1)));
    expect(await lab.ask((pods[0] as Pod).ns, 'TCP6', (pods[1] as Pod).ip6 ?? '', 8086)).toBe((pods[0] as Pod).ip6);
  });
});
