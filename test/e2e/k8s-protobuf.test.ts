/**
 * A real etcd filled as kube-apiserver fills it: protobuf values (the
 * `k8s\0` envelope, encoded by the test encoder, independent of keel's
 * decoder) beside JSON ones, plus three bad values. The watch, `keel get`
 * and `keel rules` read both encodings; each bad value is rejected alone,
 * logged once and counted once.
 * Address plan: services 10.96.31.0/24, pods 10.244.31.0/24, nodes 172.30.0.0/24.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectStore } from '../../src/store/object-store.js';
import { ClusterWatch } from '../../src/watch/cluster-watch.js';
import { encodeK8sProtobuf } from '../../src/api/testing/k8s-protobuf-encoder.js';
import { connectStore, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { keel } from '../support/keel-cli.js';
import { captureLogs } from './watch-support.js';

const prefix = uniquePrefix('k8spb');
const store = connectStore();
const objects = new ObjectStore(store, prefix);
const env = { KEEL_ETCD_ENDPOINTS: etcdEndpoint(), KEEL_ETCD_PREFIX: prefix };

const meta = (name: string, namespace = 'shop'): Record<string, unknown> => ({
  name,
  namespace,
  creationTimestamp: '2026-12-01T10:00:00Z',
});
const pbService = encodeK8sProtobuf({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: meta('web'),
  spec: {
    type: 'ClusterIP',
    clusterIP: '10.96.31.10',
    clusterIPs: ['10.96.31.10'],
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
  },
});
const pbEndpoints = encodeK8sProtobuf({
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: meta('web'),
  subsets: [{ addresses: [{ ip: '10.244.31.5', nodeName: 'node-a' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
});
const jsonService = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: meta('api'),
  spec: { clusterIP: '10.96.31.11', ports: [{ port: 443, targetPort: 8443 }] },
});
const pbNode = encodeK8sProtobuf({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'node-a' },
  spec: { podCIDR: '10.244.31.0/24', podCIDRs: ['10.244.31.0/24'] },
  status: { addresses: [{ type: 'InternalIP', address: '172.30.0.31' }] },
});
const pbSlice = encodeK8sProtobuf({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { ...meta('web-abcde'), labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['10.244.31.5'], conditions: { ready: true }, nodeName: 'node-a' }],
  ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
});
const good = pbService;
const bad = {
  truncated: good.subarray(0, good.length - 5),
  wrongMagic: Buffer.concat([Buffer.from('k8s\x02', 'latin1'), good.subarray(4)]),
  unknownKind: encodeK8sProtobuf({ apiVersion: 'v1', kind: 'Service', metadata: meta('x') }, { apiVersion: 'apps/v1', kind: 'Deployment' }),
};

beforeAll(async () => {
  await store.put(objects.key('Service', 'shop', 'web'), pbService);
  await store.put(objects.key('Endpoints', 'shop', 'web'), pbEndpoints);
  await store.put(objects.key('Service', 'shop', 'api'), Buffer.from(jsonService));
  await store.put(objects.key('Node', '', 'node-a'), pbNode);
  await store.put(objects.key('EndpointSlice', 'shop', 'web-abcde'), pbSlice);
  for (const [name, value] of Object.entries(bad)) await store.put(objects.key('Service', 'shop', name.toLowerCase()), value);
});
afterAll(async () => {
  for (const e of (await store.list(`${prefix}/`)).entries) await store.delete(e.key);
  store.close();
});

describe('an etcd holding protobuf and JSON objects side by side', () => {
  it('lists both encodings and reports each bad value on its own', async () => {
    const listing = await objects.list('Service');
    expect(listing.items.map((i) => i.object.metadata.name).sort()).toEqual(['api', 'web']);
    expect(listing.invalid.map((i) => [i.key.split('/').pop(), i.error.code])).toEqual([
      ['truncated', 'KEEL_DECODE_FAILED'],
      ['unknownkind', 'KEEL_UNSUPPORTED_KIND'],
      ['wrongmagic', 'KEEL_DECODE_FAILED'],
    ]);
    expect((await objects.get('Node', '', 'node-a'))?.object.spec.podCIDR).toBe('10.244.31.0/24');
  });

  it('the watch serves both and logs and counts each bad value once', async () => {
    const logs = captureLogs();
    const watch = new ClusterWatch({ store, prefix });
    const ac = new AbortController();
    try {
      await watch.start(ac.signal);
      const snap = watch.current();
      expect([...snap.services.keys()].sort()).toEqual(['shop/api', 'shop/web']);
      expect(snap.endpoints.get('shop/web')?.subsets[0]?.addresses[0]?.ip).toBe('10.244.31.5');
      expect(watch.services.stats().invalid).toBe(3);
      const skipped = logs.lines.filter((l) => l.includes('skipping invalid object'));
      expect(skipped).toHaveLength(3);
      expect(skipped.find((l) => l.includes('/unknownkind'))).toMatch(/apps\/v1\/Deployment/);
    } finally {
      ac.abort();
      logs.restore();
    }
  });

  it('keel get prints protobuf objects as it prints JSON ones, nodes and slices included', async () => {
    const svc = await keel(['get', 'svc', '-n', 'shop', '-o', 'name'], env);
    expect(svc.stdout).toBe('service/api\nservice/web');
    const web = JSON.parse((await keel(['get', 'svc', 'web', '-n', 'shop', '-o', 'json'], env)).stdout) as { spec: { ports: unknown[] } };
    expect(web.spec.ports).toEqual([{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }]);
    expect((await keel(['get', 'nodes', '-o', 'wide'], env)).stdout).toMatch(
      /^NAME +AGE +INTERNAL-IP +EXTERNAL-IP\nnode-a +\S+ +172\.30\.0\.31 +<none>$/,
    );
    expect((await keel(['get', 'endpointslices', '-n', 'shop'], env)).stdout).toMatch(
      /^NAME +ADDRESSTYPE +PORTS +ENDPOINTS +AGE\nweb-abcde +IPv4 +8080 +10\.244\.31\.5 +\S+$/,
    );
  });

  it('keel rules compiles the protobuf service and its endpoints', async () => {
    const res = await keel(['rules', '--node-name', 'node-a'], env);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain(
      '-A KUBE-SERVICES -d 10.96.31.10/32 -p tcp -m comment --comment "shop/web:http cluster IP" -m tcp --dport 80',
    );
    expect(res.stdout).toMatch(
      /-A KUBE-SEP-\w+ -p tcp -m comment --comment "shop\/web:http" -m tcp -j DNAT --to-destination 10\.244\.31\.5:8080/,
    );
    expect(res.stdout).toContain('-d 10.96.31.11/32');
  });
});

describe('an etcd kube-apiserver owns', () => {
  const owned = uniquePrefix('k8sown');
  const ownedEnv = { KEEL_ETCD_ENDPOINTS: etcdEndpoint(), KEEL_ETCD_PREFIX: owned };
  const kubernetes = encodeK8sProtobuf({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta('kubernetes', 'default'),
    spec: { type: 'ClusterIP', clusterIP: '10.96.31.1', ports: [{ name: 'https', protocol: 'TCP', port: 443, targetPort: 6443 }] },
  });
  beforeAll(async () => {
    await store.put(`${owned}/services/specs/default/kubernetes`, kubernetes);
  });
  afterAll(async () => {
    await store.delete(`${owned}/services/specs/default/kubernetes`);
  });

  it('keel apply and keel delete refuse in one line and write nothing; keel get still reads', async () => {
    const apply = await keel(['apply', '-f', '-'], ownedEnv, jsonService);
    expect([apply.exitCode, apply.stderr.trim().split('\n')]).toEqual([
      2,
      [
        `keel: keel apply writes only to an etcd keel owns; this one is kube-apiserver's (protobuf object at ${owned}/services/specs/default/kubernetes): use kubectl apply`,
      ],
    ]);
    const del = await keel(['delete', 'svc', 'kubernetes'], ownedEnv);
    expect([del.exitCode, del.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect((await store.list(`${owned}/`)).entries.map((e) => e.key)).toEqual([`${owned}/services/specs/default/kubernetes`]);
    expect((await keel(['get', 'svc', '-o', 'name'], ownedEnv)).stdout).toBe('service/kubernetes');
  });
});
