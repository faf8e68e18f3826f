import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeNodeLab } from './describe-node-lab.js';

/*
 * `keel describe service` on a dual-stack node, against a real etcd and the real kernel: each
 * family's own tables are compared (iptables-save and ip6tables-save; the ip and ip6 keel tables).
 * Address plan: node-1 172.30.22.1 and fd00:172:30:22::1, services 10.96.22.0/24 and
 * fd00:10:96::/112, pods 10.244.1.0/24 and fd00:10:244:1::/64 on node-1. No agent runs.
 */
// Both ranges, so apply accepts the dual-stack service's addresses.
const node = new DescribeNodeLab('kcf', { KEEL_SERVICE_CLUSTER_IP_RANGE: '10.96.0.0/12,fd00:10:96::/112' });
const NODE = ['--node-name', 'node-1', '--node-ip', '172.30.22.1,fd00:172:30:22::1', '--cluster-cidr', '10.244.0.0/16,fd00:10:244::/56'];
const DESCRIBE = [...NODE, '--metrics-address', '127.0.0.1:10249'];

const service =
  'apiVersion: v1\nkind: Service\nmetadata: {name: web}\n' +
  'spec: {ipFamilyPolicy: RequireDualStack, ipFamilies: [IPv4, IPv6], clusterIPs: [10.96.22.100, "fd00:10:96::64"], ports: [{name: http, port: 80, targetPort: 8080}]}\n';
const endpoints = (ips: string[]): string =>
  `apiVersion: v1\nkind: Endpoints\nmetadata: {name: web}\nsubsets: [{addresses: [${ips.map((ip) => `{ip: "${ip}", nodeName: node-1}`).join(', ')}], ports: [{name: http, port: 8080}]}]\n`;

/** Loads one family's rules as the agent's full sync would: `keel rules --ip-family N` through that family's restore tool. */
async function program(family: 4 | 6): Promise<void> {
  const rules = await node.inNode(['rules', '--ip-family', String(family), ...NODE]);
  expect(rules.stderr).toBe('');
  await node.exec(family === 6 ? 'ip6tables-nft-restore' : 'iptables-nft-restore', [], `${rules.stdout}\n`);
}

/** Both nftables tables, `ip keel` then `ip6 keel`, as `keel rules --mode nftables` prints them for a dual-stack node. */
async function programNft(): Promise<void> {
  const tables = await node.inNode(['rules', '--mode', 'nftables', ...NODE]);
  expect(tables.stderr).toBe('');
  // Replacing what an earlier load left: `nft -f` appends to chains that already exist.
  const clear = 'add table ip keel\ndelete table ip keel\nadd table ip6 keel\ndelete table ip6 keel\n';
  await node.exec('nft', ['-f', '-'], clear + tables.stdout);
}

/** The lines under a family's heading in the node section. */
function familyPart(report: string, heading: string): string {
  const start = report.indexOf(`\n  ${heading}:\n`);
  expect(start, `${heading} in\n${report}`).toBeGreaterThan(0);
  const rest = report.slice(start + heading.length + 5);
  const end = rest.search(/\n(?! {4})/);
  return rest.slice(0, end);
}

beforeAll(async () => {
  await node.start();
  await node.apply(service, endpoints(['10.244.1.5', 'fd00:10:244:1::5']));
  await program(4);
  await program(6);
  await programNft();
}, 120_000);

afterAll(() => node.stop());

describe('keel describe service on a dual-stack node, real etcd and kernel', () => {
  it('iptables mode: both families in the kernel as wanted, each under its own heading', async () => {
    const res = await node.inNode(['describe', 'service', 'web', ...DESCRIBE]);
    expect([res.exitCode, res.stderr]).toEqual([0, '']);
    const v4 = familyPart(res.stdout, 'IPv4 (iptables)');
    const v6 = familyPart(res.stdout, 'IPv6 (ip6tables)');
    expect(v4).toContain('in the kernel as wanted');
    expect(v4).not.toMatch(/DIFFERS|MISSING|STALE/);
    expect(v4).toContain('From a pod to 10.96.22.100:80/TCP:\n      DNAT 10.244.1.5:8080 p=1.000');
    expect(v6).toContain('in the kernel as wanted');
    expect(v6).not.toMatch(/DIFFERS|MISSING|STALE/);
    expect(v6).toContain('From a pod to [fd00:10:96::64]:80/TCP:\n      DNAT [fd00:10:244:1::5]:8080 p=1.000');
    expect(res.stdout).not.toContain('does not hold the rules');
  });

  it('iptables mode: a second IPv6 endpoint that only the IPv4 tables got is reported for IPv6 alone', async () => {
    await node.apply(endpoints(['10.244.1.5', '10.244.1.6', 'fd00:10:244:1::5', 'fd00:10:244:1::6']));
    await program(4);
    const res = await node.inNode(['describe', 'service', 'web', ...DESCRIBE]);
    expect([res.exitCode, res.stderr]).toEqual([0, '']);
    expect(familyPart(res.stdout, 'IPv4 (iptables)')).not.toMatch(/DIFFERS|MISSING|STALE/);
    const v6 = familyPart(res.stdout, 'IPv6 (ip6tables)');
    expect(v6).toMatch(/KUBE-SVC-\S+ +\d+ rules +DIFFERS in the kernel/);
    expect(v6).toMatch(/KUBE-SEP-\S+ +\d+ rules +MISSING from the kernel/);
    expect(v6).toContain('A sync would load (ip6tables-restore --noflush):');
    expect(v6).toContain('-j DNAT --to-destination [fd00:10:244:1::6]:8080');
    expect(res.stdout).toMatch(
      /\n {2}- the kernel of node-1 does not hold the rules keel wants for this service \(IPv6: 1 chain differs, 1 chain missing\)/,
    );
    await program(6);
    const synced = await node.inNode(['describe', 'service', 'web', ...DESCRIBE]);
    expect(synced.stdout).not.toContain('does not hold the rules');
  });

  it('nftables mode: the ip and ip6 keel tables, each compared; the ip6 table gone is said for IPv6 alone', async () => {
    await programNft();
    const res = await node.inNode(['describe', 'service', 'web', ...DESCRIBE, '--proxy-mode', 'nftables']);
    expect([res.exitCode, res.stderr]).toEqual([0, '']);
    expect(familyPart(res.stdout, 'IPv4 (table ip keel)')).toContain('Table ip keel:');
    expect(familyPart(res.stdout, 'IPv6 (table ip6 keel)')).toContain('Table ip6 keel:');
    expect(res.stdout).not.toMatch(/DIFFERS|MISSING|STALE|does not hold/);

    await node.exec('nft', ['delete', 'table', 'ip6', 'keel']);
    const gone = await node.inNode(['describe', 'service', 'web', ...DESCRIBE, '--proxy-mode', 'nftables']);
    expect(familyPart(gone.stdout, 'IPv4 (table ip keel)')).not.toMatch(/DIFFERS|MISSING|STALE/);
    expect(familyPart(gone.stdout, 'IPv6 (table ip6 keel)')).toContain('Table ip6 keel (not in the kernel):');
    expect(gone.stdout).toMatch(/does not hold the rules keel wants for this service \(IPv6: [^)]*missing[^)]*\)/);
    expect(gone.stdout).not.toMatch(/\(IPv4: /);
  });
});
