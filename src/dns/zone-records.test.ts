/*
 * Address plan: the fixture cluster of testing/fixture-cluster.ts, plus
 * bulk/svc-0 … svc-29 on 10.96.1.1-30 (port http 80) so one change happens
 * among many services.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../api/cluster-state.js';
import type { Endpoints } from '../api/endpoints.js';
import type { Service } from '../api/service.js';
import { registry } from '../observe/metrics.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import { encodeQuery } from './dns-client.js';
import { DnsHandler } from './dns-handler.js';
import type { RecordIndex } from './records.js';
import { fixtureConfig, fixtureSnapshot } from './testing/fixture-cluster.js';
import { makeEndpointSubsets, makeService, snapshotOf } from '../api/testing/object-builders.js';
import { buildRecordIndex, SOA_SERIAL, ZoneRecords } from './zone-records.js';

const config = fixtureConfig();
const bulk = Array.from({ length: 30 }, (_, i) =>
  makeService('bulk', `svc-${i}`, { clusterIP: `10.96.1.${i + 1}`, ports: [{ name: 'http', port: 80 }] }),
);

/** The fixture plus the bulk services, with some services and endpoints replaced (undefined: deleted). */
function cluster(
  revision: number,
  services: Record<string, Service | undefined> = {},
  endpoints: Record<string, Endpoints | undefined> = {},
): ClusterSnapshot {
  const base = fixtureSnapshot();
  const svcs = new Map([...base.services, ...bulk.map((s) => [`bulk/${s.metadata.name}`, s] as const)]);
  const eps = new Map(base.endpoints);
  for (const [k, v] of Object.entries(services)) v ? svcs.set(k, v) : svcs.delete(k);
  for (const [k, v] of Object.entries(endpoints)) v ? eps.set(k, v) : eps.delete(k);
  return { ...snapshotOf([...svcs.values()], [...eps.values()], revision, [...base.pods.values()]) };
}

const changed = (keys: string[]): ChangedKeys => ({ services: new Set(keys), endpoints: new Set(keys), pods: new Set(), full: false });

/** Every name with its records in serving order: equal dumps answer every question alike. */
function dump(index: RecordIndex): string[] {
  return [...index.names]
    .map(([name, node]) => `${name} ${JSON.stringify([...node].map(([t, rrs]) => [t, rrs.map((r) => r.data)]))}`)
    .sort();
}

function incremental(): ZoneRecords {
  const z = new ZoneRecords(config);
  z.update(cluster(1), { ...changed([]), full: true });
  return z;
}

const web = (ip: string): Service =>
  makeService('default', 'web', {
    clusterIP: ip,
    ports: [
      { name: 'http', port: 80 },
      { name: 'syslog', port: 514, protocol: 'UDP' },
    ],
  });

describe('ZoneRecords', () => {
  it('re-IPs one service among many: only its names change, and the zones equal a fresh build', () => {
    const z = incremental();
    const snap = cluster(1, { 'default/web': web('10.96.0.21') });
    const touched = z.update(snap, changed(['default/web']));
    // Its SRV records (port and target) are what they were: those names keep their cached answers.
    expect([...touched].sort()).toEqual(['20.0.96.10.in-addr.arpa', '21.0.96.10.in-addr.arpa', 'web.default.svc.cluster.local']);
    expect(dump(z)).toEqual(dump(buildRecordIndex(snap, config)));
    expect(z.names.get('20.0.96.10.in-addr.arpa')).toBeUndefined();
    expect(
      z.names
        .get('21.0.96.10.in-addr.arpa')
        ?.get('PTR')
        ?.map((r) => r.data),
    ).toEqual(['web.default.svc.cluster.local']);
  });

  it('moves the SOA serial with the revision: only the zone apexes and SOA_SERIAL are touched', () => {
    const z = incremental();
    const apexes = [
      'cluster.local',
      '10.in-addr.arpa',
      '244.10.in-addr.arpa',
      '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa',
    ];
    expect([...z.update(cluster(2), changed([]))].sort()).toEqual([...apexes, SOA_SERIAL].sort());
    expect(z.soa.get('cluster.local')?.data).toMatchObject({ serial: 2 });
    expect(dump(z)).toEqual(dump(buildRecordIndex(cluster(2), config)));
  });

  // Insecure pod names answer only in namespaces that exist: one service going must not take its namespace with it.
  it('keeps a namespace while any of its services remains, and drops it with the last', () => {
    const z = incremental();
    z.update(cluster(1, { 'bulk/svc-3': undefined }), changed(['bulk/svc-3']));
    expect(z.namespaces.has('bulk')).toBe(true);
    const rest = Object.fromEntries(bulk.map((s) => [`bulk/${s.metadata.name}`, undefined]));
    z.update(cluster(1, rest), changed(Object.keys(rest)));
    expect(z.namespaces.has('bulk')).toBe(false);
  });

  it('deletes a service: its names go, names other sources hold stay', () => {
    const z = incremental();
    const snap = cluster(1, { 'bulk/svc-3': undefined });
    const touched = z.update(snap, changed(['bulk/svc-3']));
    expect([...touched].sort()).toEqual([
      '4.1.96.10.in-addr.arpa',
      '_http._tcp.svc-3.bulk.svc.cluster.local',
      '_tcp.svc-3.bulk.svc.cluster.local',
      'svc-3.bulk.svc.cluster.local',
    ]);
    expect(z.names.has('svc-3.bulk.svc.cluster.local')).toBe(false);
    expect(z.names.has('bulk.svc.cluster.local')).toBe(true);
    expect(dump(z)).toEqual(dump(buildRecordIndex(snap, config)));
    // The last service of a namespace takes the namespace's names with it.
    const empty = snapshotOf([bulk[0] as Service]);
    const only = new ZoneRecords(config);
    only.update(empty, { ...changed([]), full: true });
    only.update(snapshotOf([]), changed(['bulk/svc-0']));
    expect(dump(only)).toEqual(dump(buildRecordIndex(snapshotOf([]), config)));
    expect([...only.namespaces]).toEqual([]);
  });

  it("follows a headless service's endpoints: host, PTR and SRV names of the endpoint that came and went", () => {
    const z = incremental();
    const eps = makeEndpointSubsets('default', 'db', [
      {
        addresses: [{ ip: '10.244.1.5', hostname: 'db-0' }, { ip: '10.244.4.8' }],
        notReadyAddresses: [{ ip: '10.244.3.7' }],
        ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
      },
    ]);
    const snap = cluster(1, {}, { 'default/db': eps });
    const touched = z.update(snap, changed(['default/db']));
    expect([...touched].sort()).toEqual([
      '10-244-2-6.db.default.svc.cluster.local',
      '10-244-4-8.db.default.svc.cluster.local',
      '4.244.10.in-addr.arpa',
      '6.2.244.10.in-addr.arpa',
      '8.4.244.10.in-addr.arpa',
      '_pg._tcp.db.default.svc.cluster.local',
      'db.default.svc.cluster.local',
    ]);
    expect(dump(z)).toEqual(dump(buildRecordIndex(snap, config)));
  });

  it("touches nothing when a ClusterIP service's endpoints change (its records do not depend on them)", () => {
    const z = incremental();
    const eps = makeEndpointSubsets('bulk', 'svc-1', [{ addresses: [{ ip: '10.244.1.9' }], ports: [{ name: 'http', port: 8080 }] }]);
    expect(z.update(cluster(1, {}, { 'bulk/svc-1': eps }), changed(['bulk/svc-1'])).size).toBe(0);
  });
});

describe('DnsHandler, incrementally', () => {
  const client = { address: '127.0.0.1', transport: 'udp' } as const;
  const questions: [string, string][] = [
    ['web.default.svc.cluster.local', 'A'],
    ['_http._tcp.web.default.svc.cluster.local', 'SRV'],
    ['20.0.96.10.in-addr.arpa', 'PTR'],
    ['21.0.96.10.in-addr.arpa', 'PTR'],
    ['alias.default.svc.cluster.local', 'A'],
    ['db.default.svc.cluster.local', 'A'],
    ['kube-dns.kube-system.svc.cluster.local', 'A'],
    ['svc-7.bulk.svc.cluster.local', 'A'],
    ['nope.default.svc.cluster.local', 'A'],
    ['svc-7.bulk.svc.cluster.local', 'TXT'],
    ['cluster.local', 'SOA'],
  ];
  const ask = (h: DnsHandler, i: number): Buffer => {
    const [name, type] = questions[i] as [string, string];
    return h.handle(encodeQuery(name, type), client) as Buffer;
  };
  const cacheEntries = async (): Promise<number> =>
    (await registry.getSingleMetric('keel_dns_cache_entries')?.get())?.values[0]?.value ?? -1;

  it('drops only the answers that read a changed name (CNAME, SRV and PTR included), and answers as a fresh handler would', async () => {
    const h = new DnsHandler({ config, recursionAllowed: () => false });
    h.setSnapshot(cluster(1));
    questions.forEach((_, i) => ask(h, i));
    expect(await cacheEntries()).toBe(questions.length);
    // Same revision: the SOA serial stays, so the negative answers stay cached.
    const snap = cluster(1, { 'default/web': web('10.96.0.21') });
    h.update(snap, changed(['default/web']));
    // Gone: web A, its SRV, both PTRs, and alias (a CNAME to web). Kept: db, kube-dns, svc-7 (A and NODATA), nope (NXDOMAIN), the SOA.
    expect(await cacheEntries()).toBe(questions.length - 5);
    const fresh = new DnsHandler({ config, recursionAllowed: () => false });
    fresh.setSnapshot(snap);
    questions.forEach((_, i) => expect(ask(h, i)).toEqual(ask(fresh, i)));
  });

  it('drops the answers carrying an SOA when the serial moves', async () => {
    const h = new DnsHandler({ config, recursionAllowed: () => false });
    h.setSnapshot(cluster(1));
    questions.forEach((_, i) => ask(h, i));
    h.update(cluster(2), changed([]));
    // nope (NXDOMAIN), svc-7 TXT (NODATA), 21.0.96.10 (NXDOMAIN) and the SOA itself carry the serial.
    expect(await cacheEntries()).toBe(questions.length - 4);
    const fresh = new DnsHandler({ config, recursionAllowed: () => false });
    fresh.setSnapshot(cluster(2));
    questions.forEach((_, i) => expect(ask(h, i)).toEqual(ask(fresh, i)));
  });
});
