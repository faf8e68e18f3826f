/**
 * EndpointSlices in a real etcd, as kube-apiserver stores them (protobuf):
 * one service split over three slices with a terminating endpoint, beside
 * the v1 Endpoints the cluster also keeps; a slice for a service that does
 * not exist. `keel rules` and the watch pick the source by --endpoints-source
 * (and its KEEL_ twin); `keel rules -f` reads slice manifests.
 * Address plan: services 10.96.32.0/24, pods 10.244.32.0/24 (node-a .1x, node-b .2x).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectStore } from '../../src/store/object-store.js';
import { ClusterWatch } from '../../src/watch/cluster-watch.js';
import { ServiceViews } from '../../src/service-view/service-views.js';
import { encodeK8sProtobuf } from '../../src/api/testing/k8s-protobuf-encoder.js';
import { connectStore, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { keel } from '../support/keel-cli.js';
import { waitFor } from './watch-support.js';

const prefix = uniquePrefix('k8seps');
const store = connectStore();
const objects = new ObjectStore(store, prefix);
const env = { KEEL_ETCD_ENDPOINTS: etcdEndpoint(), KEEL_ETCD_PREFIX: prefix };
const dir = mkdtempSync(join(tmpdir(), 'keel-slices-'));

const service = (name: string, ip: string): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'shop' },
  spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }] },
});
const slice = (name: string, svc: string, endpoints: unknown[]): Record<string, unknown> => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': svc } },
  addressType: 'IPv4',
  endpoints,
  ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
});
const ep = (ip: string, node: string, conditions: Record<string, boolean>): unknown => ({ addresses: [ip], conditions, nodeName: node });

const slices = [
  slice('web-1', 'web', [ep('10.244.32.11', 'node-a', { ready: true, serving: true, terminating: false })]),
  slice('web-2', 'web', [ep('10.244.32.21', 'node-b', { ready: true })]),
  // Terminating, still serving: used only when a port has no ready endpoint.
  slice('web-3', 'web', [ep('10.244.32.22', 'node-b', { ready: false, serving: true, terminating: true })]),
  slice('drain-1', 'drain', [ep('10.244.32.23', 'node-b', { ready: false, serving: true, terminating: true })]),
  slice('ghost-1', 'ghost', [ep('10.244.32.24', 'node-b', { ready: true })]),
];
const legacy = {
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name: 'web', namespace: 'shop' },
  subsets: [{ addresses: [{ ip: '10.244.32.99', nodeName: 'node-b' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
};

beforeAll(async () => {
  await store.put(objects.key('Service', 'shop', 'web'), encodeK8sProtobuf(service('web', '10.96.32.10')));
  await store.put(objects.key('Service', 'shop', 'drain'), encodeK8sProtobuf(service('drain', '10.96.32.11')));
  await store.put(objects.key('Endpoints', 'shop', 'web'), encodeK8sProtobuf(legacy));
});
afterAll(async () => {
  for (const e of (await store.list(`${prefix}/`)).entries) await store.delete(e.key);
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const dnatTargets = (rules: string): string[] =>
  [...rules.matchAll(/--comment "(shop\/\w+):http" -m tcp -j DNAT --to-destination (\S+)/g)].map((m) => `${m[1]} ${m[2]}`).sort();

describe('EndpointSlices as the endpoint source', () => {
  it('the watch switches to slices when the first one appears (auto) and merges a service over three slices', async () => {
    const watch = new ClusterWatch({ store, prefix });
    const views = new ServiceViews({ nodeName: 'node-a' });
    watch.subscribe((snap, changed) => {
      views.apply(snap, changed);
    });
    const ac = new AbortController();
    try {
      await watch.start(ac.signal);
      const addresses = (): string[] =>
        views.get('shop/web')?.ports[0]?.endpoints.map((e) => `${e.address}${e.terminating ? ' terminating' : ''}`) ?? [];
      await waitFor('the Endpoints-based view', () => addresses().length === 1);
      expect(addresses()).toEqual(['10.244.32.99:8080']);
      for (const s of slices)
        await store.put(objects.key('EndpointSlice', 'shop', (s.metadata as { name: string }).name), encodeK8sProtobuf(s));
      await waitFor('the slice-based view', () => addresses().length === 3);
      expect(addresses()).toEqual(['10.244.32.11:8080', '10.244.32.21:8080', '10.244.32.22:8080 terminating']);
      expect(views.get('shop/web')?.ports[0]?.endpoints.map((e) => e.isLocal)).toEqual([true, false, false]);
      // The slice of a service that does not exist changes nothing else.
      expect(views.all().map((v) => v.key)).toEqual(['shop/drain', 'shop/web']);
    } finally {
      ac.abort();
    }
  });

  it('keel rules reads slices (auto), falls back to serving terminating endpoints, and reads Endpoints when told to', async () => {
    const auto = await keel(['rules', '--node-name', 'node-a'], env);
    expect(auto.exitCode).toBe(0);
    // web has ready endpoints, so its terminating one gets no chain; drain has none ready, so it falls back to its terminating one.
    expect(dnatTargets(auto.stdout)).toEqual(['shop/drain 10.244.32.23:8080', 'shop/web 10.244.32.11:8080', 'shop/web 10.244.32.21:8080']);
    expect(auto.stdout).toMatch(/--comment "shop\/drain:http -> 10\.244\.32\.23:8080" -j KUBE-SEP-/);
    const legacyRules = await keel(['rules', '--node-name', 'node-a'], { ...env, KEEL_ENDPOINTS_SOURCE: 'endpoints' });
    expect(dnatTargets(legacyRules.stdout)).toEqual(['shop/web 10.244.32.99:8080']);
    const bad = await keel(['rules', '--endpoints-source', 'slices'], env);
    expect([bad.exitCode, bad.stderr.trim()]).toEqual([
      2,
      'keel: --endpoints-source: "slices" is not one of auto, endpointslices, endpoints',
    ]);
  });

  it('keel rules -f reads EndpointSlice manifests', async () => {
    const file = join(dir, 'web.yaml');
    writeFileSync(file, [service('web', '10.96.32.10'), ...slices.slice(0, 3)].map((o) => JSON.stringify(o)).join('\n---\n'));
    const res = await keel(['rules', '-f', file, '--node-name', 'node-a']);
    expect(dnatTargets(res.stdout)).toEqual(['shop/web 10.244.32.11:8080', 'shop/web 10.244.32.21:8080']);
    const none = await keel(['rules', '-f', file, '--node-name', 'node-a', '--endpoints-source', 'endpoints']);
    expect(none.stdout).toContain('"shop/web:http has no endpoints"');
  });
});
