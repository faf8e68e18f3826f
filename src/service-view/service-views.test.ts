import { describe, expect, it } from 'vitest';
import type { Service } from '../api/service.js';
import { registry } from '../observe/metrics.js';
import type { Logger } from '../observe/log.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import { ServiceViews, serviceViewsOf } from './service-views.js';

const svc = (name: string, ip: string): Service =>
  makeService('default', name, (s) => {
    s.clusterIP = ip;
    s.ports = [{ port: 80 }];
  });
const eps = (name: string, ...addrs: string[]) =>
  makeEndpoints(
    'default',
    name,
    addrs.map((a) => ({ ip: a, node: 'node-a' })),
    [{ port: 8080 }],
  );
const changed = (keys: string[], full = false): ChangedKeys => ({ services: new Set(keys), endpoints: new Set(), pods: new Set(), full });

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    error: () => {},
    warn: (m, f) => lines.push(`${m} ${JSON.stringify(f)}`),
    child: () => logger,
  };
  return { logger, lines };
}

async function invalidServices(): Promise<number> {
  const m = (await registry.getSingleMetric('keel_watch_invalid_objects_total')?.get())?.values.find(
    (v) => v.labels.resource === 'services',
  );
  return m?.value ?? 0;
}

async function ignoredExternalIPs(): Promise<number> {
  const m = (await registry.getSingleMetric('keel_watch_ignored_fields_total')?.get())?.values.find(
    (v) => v.labels.resource === 'services' && v.labels.field === 'spec.externalIPs',
  );
  return m?.value ?? 0;
}

describe('ServiceViews', () => {
  const a = svc('a', '10.96.0.1');
  const b = svc('b', '10.96.0.2');

  it('treats a service `only` refuses as absent, and projects it once a change lets it in', () => {
    const views = new ServiceViews({ nodeName: 'node-a', only: (s) => s.spec.type === 'LoadBalancer' });
    expect([...views.apply(snapshotOf([a, b], []), changed([], true))]).toEqual([]);
    expect(views.all()).toEqual([]);
    const lb = makeService('default', 'b', (s) => {
      s.type = 'LoadBalancer';
      s.clusterIP = '10.96.0.2';
      s.ports = [{ port: 80, nodePort: 30080 }];
    });
    expect([...views.apply(snapshotOf([a, lb], []), changed(['default/a', 'default/b']))]).toEqual(['default/b']);
    expect(views.all().map((v) => v.key)).toEqual(['default/b']);
    expect([...views.apply(snapshotOf([a, b], []), changed(['default/b']))]).toEqual(['default/b']);
    expect(views.get('default/b')).toBeUndefined();
  });

  it('projects only the services a delivery names, and keeps the others as they were', () => {
    const views = new ServiceViews({ nodeName: 'node-a' });
    expect([...views.apply(snapshotOf([a, b], [eps('a', '10.244.1.1')]), changed([], true))].sort()).toEqual(['default/a', 'default/b']);
    const before = views.get('default/b');
    const snap = snapshotOf([a, b], [eps('a', '10.244.1.2')]);
    expect([...views.apply(snap, { ...changed([]), endpoints: new Set(['default/a']) })]).toEqual(['default/a']);
    expect(views.get('default/b')).toBe(before);
    expect(views.get('default/a')?.ports[0]?.endpoints.map((e) => e.address)).toEqual(['10.244.1.2:8080']);
    expect(views.all().map((v) => v.key)).toEqual(['default/a', 'default/b']);
  });

  it('reports nothing changed for a full delivery of the same objects, and a deletion as a change', () => {
    const views = new ServiceViews();
    const snap = snapshotOf([a, b], []);
    views.apply(snap, changed([], true));
    expect(views.apply(snap, changed([], true)).size).toBe(0);
    expect([...views.apply(snapshotOf([a], []), changed(['default/b']))]).toEqual(['default/b']);
    expect(views.get('default/b')).toBeUndefined();
    expect(views.all().map((v) => v.key)).toEqual(['default/a']);
  });

  it('rejects a service that does not project on its own: logged and counted once, the rest unaffected', async () => {
    const bad: Service = { ...b, spec: { ...b.spec, clusterIPs: ['10.96.0.300'] } };
    const { logger, lines } = capture();
    const before = await invalidServices();
    const views = new ServiceViews({ logger });
    views.apply(snapshotOf([a, bad], []), changed([], true));
    // A second consumer projecting the same stored object does not count it again.
    new ServiceViews({ logger }).apply(snapshotOf([a, bad], []), changed([], true));
    expect(views.all().map((v) => v.key)).toEqual(['default/a']);
    expect(await invalidServices()).toBe(before + 1);
    expect(lines).toEqual([
      'skipping service that does not project {"key":"default/b","reason":"service default/b: spec.clusterIPs[0]: \\"10.96.0.300\\" is not an IP address"}',
    ]);
    // Fixed: the service appears.
    expect([...views.apply(snapshotOf([a, b], []), changed(['default/b']))]).toEqual(['default/b']);
    expect(views.get('default/b')?.clusterIPs[0]?.text).toBe('10.96.0.2');
  });

  it('logs and counts an ignored entry once per stored object, however many consumers project it', async () => {
    const odd: Service = { ...b, spec: { ...b.spec, externalIPs: ['172.30.0.1', 'x'] } };
    const { logger, lines } = capture();
    const before = await ignoredExternalIPs();
    const views = new ServiceViews({ logger });
    views.apply(snapshotOf([a, odd], []), changed([], true));
    new ServiceViews({ logger }).apply(snapshotOf([a, odd], []), changed([], true));
    expect(views.get('default/b')?.externalIPs.map((ip) => ip.text)).toEqual(['172.30.0.1']);
    expect(await ignoredExternalIPs()).toBe(before + 1);
    expect(lines).toEqual([
      'ignoring an invalid entry; the rest of the service is used {"object":"service default/b","field":"spec.externalIPs[1]","value":"x","reason":"is not an IP address"}',
    ]);
  });

  it('projects a whole snapshot at once, in key order', () => {
    expect(serviceViewsOf(snapshotOf([b, a], []), 'node-a').map((v) => v.key)).toEqual(['default/a', 'default/b']);
  });
});
