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
import { makeEndpointSubsets, makePod, makeService, snapshotOf } from '../api/testing/object-builders.js';
import type { Pod } from '../api/pod.js';
import { answerQuestion } from './answer.js';
import { isInZone } from './dns-names.js';
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

describe('ZoneRecords, sources that share names', () => {
  // Two hostNetwork pods of one node share its address; db and db-all publish the same endpoints.
  const verified = { ...config, podRecords: 'verified' as const };
  const full = (snap: ClusterSnapshot, cfg = verified): ZoneRecords => {
    const z = new ZoneRecords(cfg);
    z.update(snap, { ...changed([]), full: true });
    return z;
  };
  const pods = (keys: string[]): ChangedKeys => ({ services: new Set(), endpoints: new Set(), pods: new Set(keys), full: false });
  const records = (index: RecordIndex, name: string, type: 'A' | 'PTR'): unknown[] =>
    (index.names.get(name)?.get(type) ?? []).map((r) => r.data);

  it('answers an address two sources both hold once, and keeps it until the last of them goes', () => {
    const a = makePod('r', 'host-a', '10.244.5.1');
    const b = makePod('r', 'host-b', '10.244.5.1');
    const z = full(snapshotOf([], [], 1, [a, b]));
    expect(records(z, '10-244-5-1.r.pod.cluster.local', 'A')).toEqual(['10.244.5.1']);
    z.update(snapshotOf([], [], 1, [b]), pods(['r/host-a']));
    expect(records(z, '10-244-5-1.r.pod.cluster.local', 'A')).toEqual(['10.244.5.1']);
    const touched = z.update(snapshotOf([], [], 1, []), pods(['r/host-b']));
    expect([...touched]).toContain('10-244-5-1.r.pod.cluster.local');
    expect(z.names.has('10-244-5-1.r.pod.cluster.local')).toBe(false);
    expect(z.namespaces.has('r')).toBe(false);
  });

  it('keeps a pod and a service of the same namespace/name apart: each answers, and either goes alone', () => {
    const svc = makeService('r', 'same', { clusterIP: '10.96.2.1', ports: [{ name: 'http', port: 80 }] });
    const pod = makePod('r', 'same', '10.244.5.2');
    const z = full(snapshotOf([svc], [], 1, [pod]));
    expect(records(z, 'same.r.svc.cluster.local', 'A')).toEqual(['10.96.2.1']);
    expect(records(z, '10-244-5-2.r.pod.cluster.local', 'A')).toEqual(['10.244.5.2']);
    z.update(snapshotOf([svc], [], 1, []), pods(['r/same']));
    expect(records(z, 'same.r.svc.cluster.local', 'A')).toEqual(['10.96.2.1']);
    expect(z.names.has('10-244-5-2.r.pod.cluster.local')).toBe(false);
    z.update(snapshotOf([], [], 1, [pod]), { ...pods(['r/same']), services: new Set(['r/same']), endpoints: new Set(['r/same']) });
    expect(z.names.has('same.r.svc.cluster.local')).toBe(false);
    expect(records(z, '10-244-5-2.r.pod.cluster.local', 'A')).toEqual(['10.244.5.2']);
  });

  it('reads the PTRs of an address two services publish in the order of their names, however they came', () => {
    const z = incremental();
    const base = cluster(1);
    const without = snapshotOf(
      [...base.services.values()],
      [...base.endpoints.values()].filter((e) => e.metadata.name !== 'db'),
      1,
      [...base.pods.values()],
    );
    z.update(without, changed(['default/db']));
    z.update(base, changed(['default/db']));
    expect(records(z, '5.1.244.10.in-addr.arpa', 'PTR')).toEqual([
      'db-0.db.default.svc.cluster.local',
      'db-0.db-all.default.svc.cluster.local',
    ]);
    expect(dump(z)).toEqual(dump(buildRecordIndex(base, config)));
  });

  it("answers a name in the pod range's reverse zone with that zone's SOA, the narrowest zone holding it", () => {
    const z = incremental();
    expect(z.zones).toEqual([
      '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa',
      '244.10.in-addr.arpa',
      '10.in-addr.arpa',
      'cluster.local',
    ]);
    expect(answerQuestion(z, { name: '9.9.244.10.in-addr.arpa', type: 'PTR' })).toMatchObject({
      rcode: 'NXDOMAIN',
      authorities: [{ name: '244.10.in-addr.arpa', type: 'SOA' }],
    });
  });

  it('holds no name above a zone apex, nor any parent of a PTR outside every zone', () => {
    const svc = makeService('r', 'h', { clusterIP: 'None', ports: [{ name: 'x', port: 80 }] });
    const eps = makeEndpointSubsets('r', 'h', [{ addresses: [{ ip: '172.30.0.5' }], ports: [{ name: 'x', port: 80 }] }]);
    const z = full(snapshotOf([svc], [eps], 1));
    expect(z.names.has('5.0.30.172.in-addr.arpa')).toBe(true);
    const outside = [...z.names.keys()].filter((n) => n !== '5.0.30.172.in-addr.arpa' && !z.zones.some((zone) => isInZone(n, zone)));
    expect(outside).toEqual([]);
  });

  it('touches exactly the names a new service makes, and nothing when it is written again unchanged', () => {
    const z = incremental();
    const svc = makeService('bulk', 'svc-new', { clusterIP: '10.96.1.99', ports: [{ name: 'http', port: 80 }] });
    const snap = cluster(1, { 'bulk/svc-new': svc });
    expect([...z.update(snap, changed(['bulk/svc-new']))].sort()).toEqual([
      '99.1.96.10.in-addr.arpa',
      '_http._tcp.svc-new.bulk.svc.cluster.local',
      '_tcp.svc-new.bulk.svc.cluster.local',
      'svc-new.bulk.svc.cluster.local',
    ]);
    expect(z.update(snap, changed(['bulk/svc-new'])).size).toBe(0);
  });

  // A fresh build after every step of a seeded random sequence of changes: the index a long-running agent holds
  // equals the one it would build at start, and every name whose records or existence changed is reported.
  it.each(['verified', 'insecure'] as const)('equals a fresh build after each of 300 random changes (--pod-records %s)', (podRecords) => {
    const cfg = { ...config, podRecords };
    let seed = 24;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * n);
    };
    const ips = ['10.244.5.1', '10.244.5.2', '172.30.0.9'];
    const ports = [
      { name: 'http', port: 80 },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ];
    const variants: Record<string, (() => Service)[]> = {
      'r/a': [
        () => makeService('r', 'a', { clusterIP: '10.96.2.1', ports: [ports[0]] }),
        () => makeService('r', 'a', { clusterIP: '10.96.2.2', ports }),
        () => makeService('r', 'a', { type: 'ExternalName', externalName: 'example.com' }),
      ],
      'r/h': [() => makeService('r', 'h', { clusterIP: 'None', ports })],
      'r/h2': [() => makeService('r', 'h2', { clusterIP: 'None', ports: [ports[0]] })],
      'q/b': [
        () => makeService('q', 'b', { clusterIP: '10.96.2.3', ports: [ports[1]] }),
        () => makeService('q', 'b', { type: 'ExternalName', externalName: 'a.r.svc.cluster.local' }),
      ],
    };
    const services = new Map<string, Service>();
    const endpoints = new Map<string, Endpoints>();
    const podMap = new Map<string, Pod>();
    const z = new ZoneRecords(cfg);
    z.update(snapshotOf([]), { ...changed([]), full: true });
    let before = new Map(dump(z).map((line) => [line.split(' ')[0], line]));
    let revision = 1;
    for (let step = 0; step < 300; step++) {
      const keys = { services: new Set<string>(), endpoints: new Set<string>(), pods: new Set<string>(), full: false };
      const what = random(3);
      if (what === 0) {
        const key = Object.keys(variants)[random(4)] as string;
        const options = variants[key] as (() => Service)[];
        const pick = random(options.length + 1);
        if (pick === options.length) services.delete(key);
        else services.set(key, (options[pick] as () => Service)());
        keys.services.add(key);
      } else if (what === 1) {
        const key = ['r/h', 'r/h2', 'r/a'][random(3)] as string;
        const [ns, name] = key.split('/') as [string, string];
        const addresses = ips.filter(() => random(2) === 1).map((ip, i) => (i === 0 && random(2) ? { ip, hostname: 'first' } : { ip }));
        if (addresses.length) endpoints.set(key, makeEndpointSubsets(ns, name, [{ addresses, ports }]));
        else endpoints.delete(key);
        keys.endpoints.add(key);
      } else {
        const name = ['a', 'p1', 'p2'][random(3)] as string;
        const ns = random(2) ? 'r' : 'q';
        const key = `${ns}/${name}`;
        if (random(3) === 0) podMap.delete(key);
        else podMap.set(key, makePod(ns, name, ips[random(2)] as string));
        keys.pods.add(key);
      }
      if (random(10) === 0) revision++;
      const snap = snapshotOf([...services.values()], [...endpoints.values()], revision, [...podMap.values()]);
      const touched = z.update(snap, keys);
      const fresh = buildRecordIndex(snap, cfg);
      expect([step, dump(z)]).toEqual([step, dump(fresh)]);
      expect([step, [...z.namespaces].sort()]).toEqual([step, [...fresh.namespaces].sort()]);
      const after = new Map(dump(z).map((line) => [line.split(' ')[0], line]));
      const moved = [...new Set([...before.keys(), ...after.keys()])].filter(
        (n) => before.get(n) !== after.get(n) && !touched.has(n as string),
      );
      expect([step, moved]).toEqual([step, []]);
      before = after;
    }
  });
});
