import { afterAll, describe, expect, it } from 'vitest';
import { connectStore, uniquePrefix } from '../../test/support/etcd.js';
import { validateService, type Service } from '../api/service.js';
import { parsePortRange } from '../ipam/node-ports.js';
import { firstFree, parseServiceRange } from '../ipam/service-ips.js';
import { ObjectStore } from '../store/object-store.js';
import { ObjectRegistry } from './object-registry.js';

/**
 * Allocation races against a real etcd. Many in-process applies start in
 * one tick and all pick the first free address/port, so every apply after
 * the first reads a listing that is stale by the time it writes: only the
 * claim's etcd compare keeps two services off one ClusterIP or NodePort.
 * A /29 has six allocatable addresses (.1-.6); 30000-30003 four ports.
 */
const kv = connectStore();
afterAll(() => kv.close());

const ipam = { serviceRanges: parseServiceRange('10.96.0.0/29'), nodePorts: parsePortRange('30000-30003') };

function service(name: string, type: 'ClusterIP' | 'NodePort'): Service {
  return validateService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'race', name },
    spec: { type, ports: [{ port: 80 }] },
  });
}

async function applyAllAtOnce(count: number, type: 'ClusterIP' | 'NodePort'): Promise<{ store: ObjectStore; services: Service[] }> {
  const store = new ObjectStore(kv, uniquePrefix('registry-race'));
  const registry = new ObjectRegistry(store, { ipam, pick: firstFree });
  const results = await Promise.all(Array.from({ length: count }, (_, i) => registry.apply(service(`s${i}`, type))));
  return { store, services: results.map((r) => r.object as Service) };
}

async function claimOwners(store: ObjectStore, kind: 'clusterips' | 'nodeports'): Promise<Record<string, string>> {
  const { entries } = await kv.list(`${store.prefix}/keel/ipam/${kind}/`);
  return Object.fromEntries(entries.map((e) => [e.key.slice(e.key.lastIndexOf('/') + 1), e.value.toString()]));
}

describe('ObjectRegistry allocation under concurrent applies', () => {
  it('gives six concurrent applies the six ClusterIPs of a /29, each claimed by its service', async () => {
    const { store, services } = await applyAllAtOnce(6, 'ClusterIP');
    const ips = services.map((s) => s.spec.clusterIP).sort();
    expect(ips).toEqual(['10.96.0.1', '10.96.0.2', '10.96.0.3', '10.96.0.4', '10.96.0.5', '10.96.0.6']);
    const stored = (await store.list('Service')).items.map((i) => `${i.object.metadata.name}=${i.object.spec.clusterIP}`).sort();
    expect(stored).toEqual(services.map((s) => `${s.metadata.name}=${s.spec.clusterIP}`).sort());
    expect(await claimOwners(store, 'clusterips')).toEqual(
      Object.fromEntries(services.map((s) => [s.spec.clusterIP, `race/${s.metadata.name}`])),
    );
  });

  it('gives four concurrent NodePort applies the four ports of 30000-30003, each claimed by its service', async () => {
    const { store, services } = await applyAllAtOnce(4, 'NodePort');
    const ports = services.map((s) => s.spec.ports[0]?.nodePort).sort();
    expect(ports).toEqual([30000, 30001, 30002, 30003]);
    expect(await claimOwners(store, 'nodeports')).toEqual(
      Object.fromEntries(services.map((s) => [String(s.spec.ports[0]?.nodePort), `race/${s.metadata.name}`])),
    );
  });

  it('refuses the apply that finds the range full once the others hold every address', async () => {
    const { store } = await applyAllAtOnce(6, 'ClusterIP');
    const registry = new ObjectRegistry(store, { ipam, pick: firstFree });
    await expect(registry.apply(service('late', 'ClusterIP'))).rejects.toThrow('spec.clusterIP: the service range 10.96.0.0/29 is full');
  });

  it('releases on concurrent deletes exactly the claims each service held', async () => {
    const { store, services } = await applyAllAtOnce(4, 'NodePort');
    const registry = new ObjectRegistry(store, { ipam, pick: firstFree });
    await Promise.all(services.slice(0, 3).map((s) => registry.delete('Service', 'race', s.metadata.name)));
    const kept = services[3] as Service;
    expect(await claimOwners(store, 'nodeports')).toEqual({ [String(kept.spec.ports[0]?.nodePort)]: 'race/s3' });
    expect(await claimOwners(store, 'clusterips')).toEqual({ [kept.spec.clusterIP as string]: 'race/s3' });
  });
});
