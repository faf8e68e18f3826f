import { afterAll, describe, expect, it } from 'vitest';
import { connectStore, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { keel } from '../support/keel-cli.js';

// Dual-stack Services through `keel apply` into a real etcd: one ClusterIP per family from
// --service-cluster-ip-range (IPv4 10.96.0.0/12 primary, IPv6 fd00:10:96::/112), and the
// apiserver's one-line refusals when a service asks for what the cluster does not have.
const prefix = uniquePrefix('dual');
const store = connectStore();
afterAll(() => store.close());
const dual = {
  KEEL_ETCD_ENDPOINTS: etcdEndpoint(),
  KEEL_ETCD_PREFIX: prefix,
  KEEL_SERVICE_CLUSTER_IP_RANGE: '10.96.0.0/12,fd00:10:96::/112',
};
const v4only = { ...dual, KEEL_SERVICE_CLUSTER_IP_RANGE: '10.96.0.0/12' };

const service = (name: string, spec: string): string =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {selector: {app: web}, ports: [{port: 80}]${spec}}\n`;

interface StoredSpec {
  clusterIP: string;
  clusterIPs: string[];
  ipFamilies: string[];
  ipFamilyPolicy: string;
}

async function specOf(name: string): Promise<StoredSpec> {
  const out = await keel(['get', 'svc', name, '-o', 'json'], dual);
  return (JSON.parse(String(out.stdout)) as { spec: StoredSpec }).spec;
}

describe('dual-stack services against a real etcd', () => {
  it('gives a PreferDualStack service an IPv4 and an IPv6 ClusterIP, the primary family first', async () => {
    expect((await keel(['apply', '-f', '-'], dual, service('both', ', ipFamilyPolicy: PreferDualStack'))).stdout).toBe(
      'service/both created',
    );
    const spec = await specOf('both');
    expect(spec.ipFamilyPolicy).toBe('PreferDualStack');
    expect(spec.ipFamilies).toEqual(['IPv4', 'IPv6']);
    expect(spec.clusterIP).toBe(spec.clusterIPs[0]);
    expect(spec.clusterIPs[0]).toMatch(/^10\.(9[6-9]|10\d|11[01])\./);
    expect(spec.clusterIPs[1]).toMatch(/^fd00:10:96::[0-9a-f]{1,4}$/);
    // Applying the same manifest again keeps both addresses.
    expect((await keel(['apply', '-f', '-'], dual, service('both', ', ipFamilyPolicy: PreferDualStack'))).stdout).toBe(
      'service/both unchanged',
    );
  });

  it('gives an IPv6-first service its IPv6 address as clusterIP', async () => {
    await keel(['apply', '-f', '-'], dual, service('six', ', ipFamilies: [IPv6]'));
    const spec = await specOf('six');
    expect([spec.ipFamilyPolicy, spec.ipFamilies, spec.clusterIPs.length]).toEqual(['SingleStack', ['IPv6'], 1]);
    expect(spec.clusterIP).toMatch(/^fd00:10:96::/);
  });

  it.each([
    [
      'an IPv6 service on an IPv4-only cluster',
      v4only,
      service('nope', ', ipFamilies: [IPv6]'),
      'keel: service default/nope: spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster',
    ],
    [
      'RequireDualStack on an IPv4-only cluster',
      v4only,
      service('nope', ', ipFamilyPolicy: RequireDualStack'),
      'keel: service default/nope: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
    ],
    [
      'two IPv4 ClusterIPs',
      dual,
      service('nope', ', clusterIPs: [10.96.0.50, 10.96.0.51], ipFamilyPolicy: PreferDualStack'),
      'keel: service default/nope: spec.clusterIPs: Invalid value: []string{"10.96.0.50", "10.96.0.51"}: may specify no more than one IP for each IP family',
    ],
  ])('refuses %s with the apiserver message in one line, writing nothing', async (_what, env, manifest, message) => {
    const before = (await store.list(`${prefix}/`)).entries.length;
    const res = await keel(['apply', '-f', '-'], env, manifest);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toBe(message);
    expect((await store.list(`${prefix}/`)).entries.length).toBe(before);
  });
});

// keel rules and keel trace from manifests (no etcd): the IPv6 ruleset of a dual-stack service.
describe('keel rules and keel trace for IPv6', () => {
  const manifest =
    service('web', ', clusterIPs: [10.96.0.10, "fd00:10:96::a"], ipFamilyPolicy: RequireDualStack') +
    '---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: web}\n' +
    'subsets: [{addresses: [{ip: 10.244.1.5}, {ip: "fd00:10:244:1::5"}], ports: [{port: 80}]}]\n';
  const offline = { ...dual, KEEL_CLUSTER_CIDR: '10.244.0.0/16,fd00:10:244::/56' };

  it('prints the ip6tables-restore text with --ip-family 6, both rulesets by default for a dual-stack --cluster-cidr', async () => {
    const six = await keel(['rules', '-f', '-', '--ip-family', '6'], offline, manifest);
    expect(six.stderr).toBe('');
    expect(six.stdout).toContain('-A KUBE-SERVICES -d fd00:10:96::a/128 -p tcp -m comment --comment "default/web cluster IP"');
    expect(six.stdout).toContain('-j DNAT --to-destination [fd00:10:244:1::5]:80');
    expect(six.stdout).not.toContain('10.96.0.10');
    const both = String((await keel(['rules', '-f', '-'], offline, manifest)).stdout);
    expect(both.split('\n').filter((l) => l.startsWith('# IPv'))).toEqual(['# IPv4: iptables-restore', '# IPv6: ip6tables-restore']);
  });

  it('traces an IPv6 packet given as [address]:port, and refuses mixed families in one line', async () => {
    const out = await keel(['trace', '-f', '-', '--src', 'fd00:10:244:3::2', '--dst', '[fd00:10:96::a]:80/tcp'], offline, manifest);
    expect(out.stdout).toContain('DNAT [fd00:10:244:1::5]:80 p=1.000');
    const bad = await keel(['trace', '-f', '-', '--src', '10.244.3.2', '--dst', '[fd00:10:96::a]:80'], offline, manifest);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe('keel: --src: 10.244.3.2 and --dst fd00:10:96::a are of different families');
  });
});
