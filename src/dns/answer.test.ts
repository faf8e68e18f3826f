import { beforeEach, describe, expect, it } from 'vitest';
import { answerQuestion } from './answer.js';
import { canonicalName } from './dns-names.js';
import { TOLERATE_UNREADY_ANNOTATION, validateService } from '../api/service.js';
import { fixtureConfig, fixtureSnapshot } from './testing/fixture-cluster.js';
import { validatePod } from '../api/pod.js';
import { makeEndpointSubsets, makeService, snapshotOf } from '../api/testing/object-builders.js';
import { buildRecordIndex } from './zone-records.js';
import { formatRr } from './zone-file.js';
import { POD_RECORDS_MODES, type RecordIndex } from './records.js';

// The fixture's address plan is documented in fixture-cluster.ts. The table runs with a TTL
// other than the default 5 (--dns-ttl), so every line checks that the record kind carries the
// configured TTL, and every NXDOMAIN/NODATA that its SOA's minimum (the negative TTL) is it too.
const T = 37;
// Built before each test, not at file load: Stryker runs a mutant in code that runs at load ("static") against every
// test of the module, and one run in a test only against the tests that reach it.
let index: RecordIndex;
beforeEach(() => {
  index = buildRecordIndex(fixtureSnapshot(), { ...fixtureConfig(), ttl: T });
});
const Z = 'cluster.local.';
const SOA = `cluster.local. ${T} IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 ${T}`;
const REV_SOA = `10.in-addr.arpa. ${T} IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 ${T}`;

interface Row {
  name: string;
  type: string;
  rcode: 'NOERROR' | 'NXDOMAIN' | 'forward';
  answers?: string[];
  authority?: string[];
  additional?: string[];
}

const rows: Row[] = [
  // ClusterIP services, any spelling
  { name: `web.default.svc.${Z}`, type: 'A', rcode: 'NOERROR', answers: [`web.default.svc.${Z} ${T} IN A 10.96.0.20`] },
  { name: 'WEB.Default.SVC.Cluster.Local', type: 'A', rcode: 'NOERROR', answers: [`web.default.svc.${Z} ${T} IN A 10.96.0.20`] },
  { name: `web.default.svc.${Z}`, type: 'AAAA', rcode: 'NOERROR', authority: [SOA] },
  { name: `web.default.svc.${Z}`, type: 'MX', rcode: 'NOERROR', authority: [SOA] },
  { name: `web6.dual.svc.${Z}`, type: 'A', rcode: 'NOERROR', answers: [`web6.dual.svc.${Z} ${T} IN A 10.96.0.30`] },
  { name: `web6.dual.svc.${Z}`, type: 'AAAA', rcode: 'NOERROR', answers: [`web6.dual.svc.${Z} ${T} IN AAAA fd00:10:96::30`] },
  { name: `pending.default.svc.${Z}`, type: 'A', rcode: 'NOERROR', authority: [SOA] },
  // SRV for named ports, target A in additional
  {
    name: `_http._tcp.web.default.svc.${Z}`,
    type: 'SRV',
    rcode: 'NOERROR',
    answers: [`_http._tcp.web.default.svc.${Z} ${T} IN SRV 0 100 80 web.default.svc.${Z}`],
    additional: [`web.default.svc.${Z} ${T} IN A 10.96.0.20`],
  },
  {
    name: `_syslog._udp.web.default.svc.${Z}`,
    type: 'SRV',
    rcode: 'NOERROR',
    answers: [`_syslog._udp.web.default.svc.${Z} ${T} IN SRV 0 100 514 web.default.svc.${Z}`],
    additional: [`web.default.svc.${Z} ${T} IN A 10.96.0.20`],
  },
  { name: `_http._udp.web.default.svc.${Z}`, type: 'SRV', rcode: 'NXDOMAIN', authority: [SOA] },
  // SRV at the bare name: every port (CoreDNS kubernetes.go findServices, empty port and protocol match all)
  {
    name: `web.default.svc.${Z}`,
    type: 'SRV',
    rcode: 'NOERROR',
    answers: [
      `web.default.svc.${Z} ${T} IN SRV 0 50 80 web.default.svc.${Z}`,
      `web.default.svc.${Z} ${T} IN SRV 0 50 514 web.default.svc.${Z}`,
    ],
    additional: [`web.default.svc.${Z} ${T} IN A 10.96.0.20`],
  },
  {
    name: `db.default.svc.${Z}`,
    type: 'SRV',
    rcode: 'NOERROR',
    answers: [
      `db.default.svc.${Z} ${T} IN SRV 0 50 5432 db-0.db.default.svc.${Z}`,
      `db.default.svc.${Z} ${T} IN SRV 0 50 5432 10-244-2-6.db.default.svc.${Z}`,
    ],
    additional: [`db-0.db.default.svc.${Z} ${T} IN A 10.244.1.5`, `10-244-2-6.db.default.svc.${Z} ${T} IN A 10.244.2.6`],
  },
  { name: `_tcp.web.default.svc.${Z}`, type: 'SRV', rcode: 'NOERROR', authority: [SOA] },
  {
    name: `_dns._udp.kube-dns.kube-system.svc.${Z}`,
    type: 'SRV',
    rcode: 'NOERROR',
    answers: [`_dns._udp.kube-dns.kube-system.svc.${Z} ${T} IN SRV 0 100 53 kube-dns.kube-system.svc.${Z}`],
    additional: [`kube-dns.kube-system.svc.${Z} ${T} IN A 10.96.0.10`],
  },
  // headless: ready endpoints only, unless publishNotReadyAddresses
  {
    name: `db.default.svc.${Z}`,
    type: 'A',
    rcode: 'NOERROR',
    answers: [`db.default.svc.${Z} ${T} IN A 10.244.1.5`, `db.default.svc.${Z} ${T} IN A 10.244.2.6`],
  },
  {
    name: `db-all.default.svc.${Z}`,
    type: 'A',
    rcode: 'NOERROR',
    answers: [
      `db-all.default.svc.${Z} ${T} IN A 10.244.1.5`,
      `db-all.default.svc.${Z} ${T} IN A 10.244.2.6`,
      `db-all.default.svc.${Z} ${T} IN A 10.244.3.7`,
    ],
  },
  // CoreDNS kubernetes.go findServices (headless: err stays errNoItems without addresses); spec 2.4.1
  { name: `empty.default.svc.${Z}`, type: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { name: `db-0.db.default.svc.${Z}`, type: 'A', rcode: 'NOERROR', answers: [`db-0.db.default.svc.${Z} ${T} IN A 10.244.1.5`] },
  { name: `10-244-2-6.db.default.svc.${Z}`, type: 'A', rcode: 'NOERROR', answers: [`10-244-2-6.db.default.svc.${Z} ${T} IN A 10.244.2.6`] },
  { name: `10-244-3-7.db.default.svc.${Z}`, type: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  {
    name: `_pg._tcp.db.default.svc.${Z}`,
    type: 'SRV',
    rcode: 'NOERROR',
    answers: [
      `_pg._tcp.db.default.svc.${Z} ${T} IN SRV 0 50 5432 db-0.db.default.svc.${Z}`,
      `_pg._tcp.db.default.svc.${Z} ${T} IN SRV 0 50 5432 10-244-2-6.db.default.svc.${Z}`,
    ],
    additional: [`db-0.db.default.svc.${Z} ${T} IN A 10.244.1.5`, `10-244-2-6.db.default.svc.${Z} ${T} IN A 10.244.2.6`],
  },
  // PTR for ClusterIPs and headless endpoint addresses; unknown addresses in served ranges are NXDOMAIN
  {
    name: '20.0.96.10.in-addr.arpa.',
    type: 'PTR',
    rcode: 'NOERROR',
    answers: [`20.0.96.10.in-addr.arpa. ${T} IN PTR web.default.svc.${Z}`],
  },
  {
    name: '5.1.244.10.in-addr.arpa',
    type: 'PTR',
    rcode: 'NOERROR',
    answers: [
      `5.1.244.10.in-addr.arpa. ${T} IN PTR db-0.db.default.svc.${Z}`,
      `5.1.244.10.in-addr.arpa. ${T} IN PTR db-0.db-all.default.svc.${Z}`,
    ],
  },
  {
    name: '0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa',
    type: 'PTR',
    rcode: 'NOERROR',
    answers: [`0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. ${T} IN PTR web6.dual.svc.${Z}`],
  },
  { name: '99.0.96.10.in-addr.arpa', type: 'PTR', rcode: 'NXDOMAIN', authority: [REV_SOA] },
  { name: '20.0.96.10.in-addr.arpa', type: 'A', rcode: 'NOERROR', authority: [REV_SOA] },
  { name: '4.3.2.10.in-addr.arpa', type: 'PTR', rcode: 'forward' },
  { name: '1.1.168.192.in-addr.arpa', type: 'PTR', rcode: 'forward' },
  // ExternalName
  { name: `ext.default.svc.${Z}`, type: 'A', rcode: 'NOERROR', answers: [`ext.default.svc.${Z} ${T} IN CNAME example.com.`] },
  { name: `ext.default.svc.${Z}`, type: 'CNAME', rcode: 'NOERROR', answers: [`ext.default.svc.${Z} ${T} IN CNAME example.com.`] },
  {
    name: `alias.default.svc.${Z}`,
    type: 'A',
    rcode: 'NOERROR',
    answers: [`alias.default.svc.${Z} ${T} IN CNAME web.default.svc.${Z}`, `web.default.svc.${Z} ${T} IN A 10.96.0.20`],
  },
  // pods, schema version, zone apex
  { name: `10-244-1-5.default.pod.${Z}`, type: 'A', rcode: 'NOERROR', answers: [`10-244-1-5.default.pod.${Z} ${T} IN A 10.244.1.5`] },
  { name: `10-244-9-9.default.pod.${Z}`, type: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { name: `10-244-1-5.dual.pod.${Z}`, type: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { name: `dns-version.${Z}`, type: 'TXT', rcode: 'NOERROR', answers: [`dns-version.${Z} ${T} IN TXT "1.1.0"`] },
  { name: Z, type: 'SOA', rcode: 'NOERROR', answers: [SOA] },
  { name: Z, type: 'NS', rcode: 'NOERROR', answers: [`${Z} ${T} IN NS ns.dns.${Z}`] },
  // namespaces and names that do not exist
  { name: `default.svc.${Z}`, type: 'A', rcode: 'NOERROR', authority: [SOA] },
  { name: `svc.${Z}`, type: 'A', rcode: 'NOERROR', authority: [SOA] },
  { name: `web.nosuchns.svc.${Z}`, type: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { name: `nosuchns.svc.${Z}`, type: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { name: `nope.default.svc.${Z}`, type: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { name: `web.default.${Z}`, type: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  // outside the zone
  { name: 'example.com.', type: 'A', rcode: 'forward' },
  { name: 'cluster.local.example.com', type: 'A', rcode: 'forward' },
];

describe('answerQuestion', () => {
  it.each(rows)('$name $type → $rcode', (row) => {
    const res = answerQuestion(index, { name: canonicalName(row.name), type: row.type });
    if (row.rcode === 'forward') {
      expect(res.kind).toBe('forward');
      return;
    }
    expect(res.kind).toBe('answer');
    if (res.kind !== 'answer') return;
    expect({
      rcode: res.rcode,
      answers: res.answers.map(formatRr),
      authority: res.authorities.map(formatRr),
      additional: res.additionals.map(formatRr),
    }).toEqual({ rcode: row.rcode, answers: row.answers ?? [], authority: row.authority ?? [], additional: row.additional ?? [] });
  });

  it.each([0, 1, 3600])('gives every record kind TTL %i and makes it the SOA minimum, the TTL of negative answers', (ttl) => {
    const idx = buildRecordIndex(fixtureSnapshot(), { ...fixtureConfig(), ttl, nsAddresses: ['10.96.0.10', 'fd00:10:96::10'] });
    const ttlsByKind: Record<string, number[]> = {};
    for (const node of idx.names.values()) {
      for (const rr of [...node.values()].flat()) ttlsByKind[rr.type] = [...new Set([...(ttlsByKind[rr.type] ?? []), rr.ttl])];
    }
    expect(ttlsByKind).toEqual({ A: [ttl], AAAA: [ttl], CNAME: [ttl], PTR: [ttl], SRV: [ttl], SOA: [ttl], NS: [ttl], TXT: [ttl] });
    expect([...idx.soa.values()].map((rr) => rr.type === 'SOA' && rr.data.minimum)).toEqual([ttl, ttl, ttl, ttl]);
  });

  it('answers a different cluster domain and nothing of the old one', () => {
    const idx = buildRecordIndex(snapshotOf([makeService('a', 'b', { clusterIP: '10.96.5.5', ports: [{ port: 1 }] })], [], 42), {
      ...fixtureConfig(),
      zone: 'corp.example.',
    });
    expect(answerQuestion(idx, { name: 'b.a.svc.corp.example', type: 'A' })).toMatchObject({ kind: 'answer', rcode: 'NOERROR' });
    expect(answerQuestion(idx, { name: 'b.a.svc.cluster.local', type: 'A' })).toEqual({ kind: 'forward' });
  });

  // CoreDNS plugin/backend_lookup.go NS + plugin/kubernetes/ns.go nsAddrs: the apex NS answer carries ns.dns.<zone>'s addresses.
  it('puts the name server address in the additional section of the apex NS answer', () => {
    const idx = buildRecordIndex(fixtureSnapshot(), { ...fixtureConfig(), nsAddresses: ['10.96.0.10'] });
    const res = answerQuestion(idx, { name: 'cluster.local', type: 'NS' });
    expect(res.kind === 'answer' && [res.answers.map(formatRr), res.additionals.map(formatRr)]).toEqual([
      ['cluster.local. 5 IN NS ns.dns.cluster.local.'],
      ['ns.dns.cluster.local. 5 IN A 10.96.0.10'],
    ]);
  });

  // CoreDNS plugin/kubernetes/kubernetes.go findPods: insecure answers any dashed address in an existing namespace.
  it('answers pod names per --pod-records: insecure (default), verified, disabled', () => {
    const ask = (mode: 'insecure' | 'verified' | 'disabled' | undefined, name: string, type = 'A') => {
      const { podRecords: _, ...base } = fixtureConfig();
      const res = answerQuestion(buildRecordIndex(fixtureSnapshot(), mode ? { ...base, podRecords: mode } : base), { name, type });
      return res.kind === 'answer' ? `${res.rcode} ${res.answers.map(formatRr).join(', ')}` : res.kind;
    };
    for (const mode of ['insecure', undefined] as const) {
      expect(ask(mode, '10-244-9-9.default.pod.cluster.local')).toBe('NOERROR 10-244-9-9.default.pod.cluster.local. 5 IN A 10.244.9.9');
      expect(ask(mode, '1-2-3-4.dual.pod.cluster.local')).toBe('NOERROR 1-2-3-4.dual.pod.cluster.local. 5 IN A 1.2.3.4');
      expect(ask(mode, 'fd00--1.default.pod.cluster.local', 'AAAA')).toBe('NOERROR fd00--1.default.pod.cluster.local. 5 IN AAAA fd00::1');
      expect(ask(mode, '10-244-9-9.default.pod.cluster.local', 'AAAA')).toBe('NOERROR ');
      expect(ask(mode, 'web-1.default.pod.cluster.local')).toBe('NXDOMAIN ');
      expect(ask(mode, '10-244-9-9.nosuchns.pod.cluster.local')).toBe('NXDOMAIN ');
      expect(ask(mode, 'default.pod.cluster.local')).toBe('NOERROR ');
    }
    expect(ask('verified', '10-244-1-5.default.pod.cluster.local')).toBe('NOERROR 10-244-1-5.default.pod.cluster.local. 5 IN A 10.244.1.5');
    expect(ask('verified', '10-244-9-9.default.pod.cluster.local')).toBe('NXDOMAIN ');
    expect(ask('disabled', '10-244-1-5.default.pod.cluster.local')).toBe('NXDOMAIN ');
  });

  it('counts not-ready addresses of a headless service with the tolerate-unready-endpoints annotation', () => {
    const svc = validateService({
      apiVersion: 'v1',
      kind: 'Service',
      spec: { clusterIP: 'None', ports: [{ name: 'x', port: 80 }] },
      metadata: { namespace: 'default', name: 'tol', annotations: { [TOLERATE_UNREADY_ANNOTATION]: 'true' } },
    });
    const eps = makeEndpointSubsets('default', 'tol', [{ notReadyAddresses: [{ ip: '10.244.4.4' }], ports: [{ name: 'x', port: 80 }] }]);
    const res = answerQuestion(buildRecordIndex(snapshotOf([svc], [eps], 42), fixtureConfig()), {
      name: 'tol.default.svc.cluster.local',
      type: 'A',
    });
    expect(res.kind === 'answer' && res.answers.map(formatRr)).toEqual(['tol.default.svc.cluster.local. 5 IN A 10.244.4.4']);
  });

  it('serves ns.dns.<zone> addresses when configured', () => {
    const idx = buildRecordIndex(fixtureSnapshot(), { ...fixtureConfig(), nsAddresses: ['10.96.0.10'] });
    const res = answerQuestion(idx, { name: 'ns.dns.cluster.local', type: 'A' });
    expect(res.kind === 'answer' && res.answers.map(formatRr)).toEqual(['ns.dns.cluster.local. 5 IN A 10.96.0.10']);
  });
});

describe('answerQuestion, edges', () => {
  const answer = (idx: ReturnType<typeof buildRecordIndex>, name: string, type: string) => {
    const res = answerQuestion(idx, { name, type });
    if (res.kind === 'forward') return 'forward';
    return {
      rcode: res.rcode,
      answers: res.answers.map(formatRr),
      authority: res.authorities.map(formatRr),
      additional: res.additionals.map(formatRr),
      ...(res.foreignTarget === undefined ? {} : { foreignTarget: res.foreignTarget }),
    };
  };
  const SOA5 = 'cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5';
  let insecure: RecordIndex;
  beforeEach(() => {
    insecure = buildRecordIndex(fixtureSnapshot(), { ...fixtureConfig(), podRecords: 'insecure' });
  });

  it("an insecure pod name asked for the other family's type is NODATA with the SOA; ANY gets its address", () => {
    const name = '10-244-9-9.default.pod.cluster.local';
    expect(answer(insecure, name, 'AAAA')).toEqual({ rcode: 'NOERROR', answers: [], authority: [SOA5], additional: [] });
    expect(answer(insecure, name, 'ANY')).toEqual({
      rcode: 'NOERROR',
      answers: [`${name}. 5 IN A 10.244.9.9`],
      authority: [],
      additional: [],
    });
  });

  it('reads a dashed label of eight groups without "--" as a full IPv6 address', () => {
    expect(answer(insecure, 'fd00-10-244-1-0-0-0-5.default.pod.cluster.local', 'AAAA')).toMatchObject({
      answers: ['fd00-10-244-1-0-0-0-5.default.pod.cluster.local. 5 IN AAAA fd00:10:244:1::5'],
    });
  });

  it('reads a dashed label with four parts and a "--" as IPv6, and takes no dashed name outside .pod. for a pod', () => {
    expect(answer(insecure, 'fd00--10-1.default.pod.cluster.local', 'AAAA')).toMatchObject({
      answers: ['fd00--10-1.default.pod.cluster.local. 5 IN AAAA fd00::10:1'],
    });
    // `svc` has the length of `pod`: only the label decides.
    expect(answer(insecure, '10-244-9-9.default.svc.cluster.local', 'A')).toMatchObject({ rcode: 'NXDOMAIN', answers: [] });
    expect(answer(insecure, '10-244-9-9.x.default.pod.cluster.local', 'A')).toMatchObject({ rcode: 'NXDOMAIN', answers: [] });
  });

  it('answers each --pod-records mode the CLI accepts as documented', () => {
    const name = '10-244-9-9.default.pod.cluster.local';
    const rcodes = POD_RECORDS_MODES.map((podRecords) => {
      const res = answerQuestion(buildRecordIndex(fixtureSnapshot(), { ...fixtureConfig(), podRecords }), { name, type: 'A' });
      return res.kind === 'answer' && `${podRecords} ${res.rcode} ${res.answers.length}`;
    });
    expect(rcodes).toEqual(['insecure NOERROR 1', 'verified NXDOMAIN 0', 'disabled NXDOMAIN 0']);
  });

  it('answers the PTR of an endpoint address outside every served range, and forwards other types at that name', () => {
    const svc = makeService('default', 'host', { clusterIP: 'None', ports: [{ name: 'x', port: 80 }] });
    const eps = makeEndpointSubsets('default', 'host', [{ addresses: [{ ip: '172.30.0.5' }], ports: [{ name: 'x', port: 80 }] }]);
    const idx = buildRecordIndex(snapshotOf([svc], [eps], 42), fixtureConfig());
    expect(answer(idx, '5.0.30.172.in-addr.arpa', 'PTR')).toEqual({
      rcode: 'NOERROR',
      answers: ['5.0.30.172.in-addr.arpa. 5 IN PTR 172-30-0-5.host.default.svc.cluster.local.'],
      authority: [],
      additional: [],
    });
    expect(answer(idx, '5.0.30.172.in-addr.arpa', 'A')).toBe('forward');
    expect(answer(idx, '6.0.30.172.in-addr.arpa', 'PTR')).toBe('forward');
  });

  it('forwards a partial reverse name in a served reverse zone that keel holds nothing under', () => {
    expect(answer(index, '7.10.in-addr.arpa', 'PTR')).toBe('forward');
  });

  it('hands the resolver a foreign CNAME target to finish, but not an in-zone one, nor a CNAME question', () => {
    const gone = makeService('default', 'gone', { type: 'ExternalName', externalName: 'nothing.default.svc.cluster.local' });
    const idx = buildRecordIndex(
      snapshotOf([gone, makeService('default', 'ext', { type: 'ExternalName', externalName: 'example.com' })], [], 42),
      fixtureConfig(),
    );
    expect(answer(idx, 'ext.default.svc.cluster.local', 'A')).toMatchObject({ foreignTarget: 'example.com' });
    expect(answer(idx, 'ext.default.svc.cluster.local', 'CNAME')).not.toHaveProperty('foreignTarget');
    expect(answer(idx, 'ext.default.svc.cluster.local', 'ANY')).not.toHaveProperty('foreignTarget');
    expect(answer(idx, 'gone.default.svc.cluster.local', 'A')).toEqual({
      rcode: 'NOERROR',
      answers: ['gone.default.svc.cluster.local. 5 IN CNAME nothing.default.svc.cluster.local.'],
      authority: [],
      additional: [],
    });
  });

  // answer.ts L77: only a chain that ends where keel holds nothing is handed on, also when the last name is outside every zone.
  it('answers a CNAME chain ending at an out-of-zone name keel holds from its own records, handing nothing to the resolver', () => {
    const host = makeService('default', 'host', { clusterIP: 'None', ports: [{ name: 'x', port: 80 }] });
    const eps = makeEndpointSubsets('default', 'host', [{ addresses: [{ ip: '172.30.0.5' }], ports: [{ name: 'x', port: 80 }] }]);
    const rev = makeService('default', 'rev', { type: 'ExternalName', externalName: '5.0.30.172.in-addr.arpa' });
    const idx = buildRecordIndex(snapshotOf([host, rev], [eps], 42), fixtureConfig());
    expect(answer(idx, 'rev.default.svc.cluster.local', 'PTR')).toEqual({
      rcode: 'NOERROR',
      answers: [
        'rev.default.svc.cluster.local. 5 IN CNAME 5.0.30.172.in-addr.arpa.',
        '5.0.30.172.in-addr.arpa. 5 IN PTR 172-30-0-5.host.default.svc.cluster.local.',
      ],
      authority: [],
      additional: [],
    });
  });

  // record-sources.ts L112: the namespace name under pod.<zone> is made only for insecure pod names.
  it('makes <namespace>.pod.<zone> exist only when --pod-records is insecure', () => {
    const modes = POD_RECORDS_MODES.map((podRecords) => {
      const idx = buildRecordIndex(fixtureSnapshot(), { ...fixtureConfig(), podRecords });
      const res = answerQuestion(idx, { name: 'kube-system.pod.cluster.local', type: 'A' });
      return `${podRecords} ${res.kind === 'answer' ? res.rcode : res.kind}`;
    });
    expect(modes).toEqual(['insecure NOERROR', 'verified NXDOMAIN', 'disabled NXDOMAIN']);
  });

  it('answers ANY at an alias with the CNAME alone, and ANY at a service with all its records', () => {
    expect(answer(index, 'alias.default.svc.cluster.local', 'ANY')).toMatchObject({
      answers: ['alias.default.svc.cluster.local. 37 IN CNAME web.default.svc.cluster.local.'],
    });
    expect(answer(index, 'web.default.svc.cluster.local', 'ANY')).toMatchObject({
      answers: [
        'web.default.svc.cluster.local. 37 IN A 10.96.0.20',
        'web.default.svc.cluster.local. 37 IN SRV 0 50 80 web.default.svc.cluster.local.',
        'web.default.svc.cluster.local. 37 IN SRV 0 50 514 web.default.svc.cluster.local.',
      ],
    });
  });

  it('follows a chain of eight CNAMEs to the address, and stops a ninth (or a loop) without an address', () => {
    const chain = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        makeService('default', `c${i}`, {
          type: 'ExternalName',
          externalName: i === n - 1 ? 'web.default.svc.cluster.local' : `c${i + 1}.default.svc.cluster.local`,
        }),
      );
    const web = makeService('default', 'web', { clusterIP: '10.96.0.20', ports: [{ port: 80 }] });
    const types = (n: number) => {
      const res = answer(buildRecordIndex(snapshotOf([web, ...chain(n)], [], 42), fixtureConfig()), 'c0.default.svc.cluster.local', 'A');
      return res === 'forward' ? res : res.answers.map((a) => a.split(' ')[3]).join(' ');
    };
    expect(types(8)).toBe('CNAME CNAME CNAME CNAME CNAME CNAME CNAME CNAME A');
    expect(types(9)).toBe('CNAME CNAME CNAME CNAME CNAME CNAME CNAME CNAME CNAME');
    const loop = [
      makeService('default', 'ping', { type: 'ExternalName', externalName: 'pong.default.svc.cluster.local' }),
      makeService('default', 'pong', { type: 'ExternalName', externalName: 'ping.default.svc.cluster.local' }),
    ];
    const res = answer(buildRecordIndex(snapshotOf(loop, [], 42), fixtureConfig()), 'ping.default.svc.cluster.local', 'A');
    expect(res !== 'forward' && [res.answers.length, 'foreignTarget' in res]).toEqual([9, false]);
  });

  it('glues both address families of an SRV target in the additional section', () => {
    expect(answer(index, '_http._tcp.web6.dual.svc.cluster.local', 'SRV')).toMatchObject({
      additional: ['web6.dual.svc.cluster.local. 37 IN A 10.96.0.30', 'web6.dual.svc.cluster.local. 37 IN AAAA fd00:10:96::30'],
    });
  });

  // CoreDNS answers the names above a service or pod that hold no records (errNoItems) with NODATA, not NXDOMAIN.
  it("answers NODATA at the zone's fixed names in an empty cluster, in every --pod-records mode", () => {
    for (const podRecords of POD_RECORDS_MODES) {
      const empty = buildRecordIndex(snapshotOf([], [], 42), { ...fixtureConfig(), podRecords });
      for (const name of ['ns.dns.cluster.local', 'dns.cluster.local', 'svc.cluster.local', 'pod.cluster.local']) {
        expect([podRecords, name, answer(empty, name, 'A')]).toEqual([
          podRecords,
          name,
          { rcode: 'NOERROR', answers: [], authority: [SOA5], additional: [] },
        ]);
      }
      expect(answer(empty, 'nope.cluster.local', 'A')).toMatchObject({ rcode: 'NXDOMAIN' });
    }
  });

  it('makes a namespace holding only a headless service without ready endpoints exist, and not the service', () => {
    const idx = buildRecordIndex(
      snapshotOf([makeService('lone', 'h', { clusterIP: 'None', ports: [{ port: 80 }] })], [], 42),
      fixtureConfig(),
    );
    expect(answer(idx, 'lone.svc.cluster.local', 'A')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(answer(idx, 'h.lone.svc.cluster.local', 'A')).toMatchObject({ rcode: 'NXDOMAIN' });
  });

  it('gives a service whose ClusterIP is not allocated yet no SRV records', () => {
    expect(answer(index, 'pending.default.svc.cluster.local', 'SRV')).toMatchObject({ rcode: 'NOERROR', answers: [] });
  });

  it('answers verified pod records for every podIP of a dual-stack pod, and nothing for a pod without status yet', () => {
    const pod = (name: string, status: object | undefined) =>
      validatePod({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { namespace: 'v', name },
        spec: { containers: [{ name: 'c' }] },
        ...(status && { status }),
      });
    const idx = buildRecordIndex(
      snapshotOf([], [], 42, [
        pod('dual', { phase: 'Running', podIP: '10.244.7.7', podIPs: [{ ip: '10.244.7.7' }, { ip: 'fd00:10:244::7' }] }),
        pod('new', undefined),
      ]),
      { ...fixtureConfig(), podRecords: 'verified' },
    );
    expect(answer(idx, '10-244-7-7.v.pod.cluster.local', 'A')).toMatchObject({
      answers: ['10-244-7-7.v.pod.cluster.local. 5 IN A 10.244.7.7'],
    });
    expect(answer(idx, 'fd00-10-244--7.v.pod.cluster.local', 'AAAA')).toMatchObject({
      answers: ['fd00-10-244--7.v.pod.cluster.local. 5 IN AAAA fd00:10:244::7'],
    });
  });
});
