import { beforeEach, describe, expect, it } from 'vitest';
import { fixtureConfig } from './testing/fixture-cluster.js';
import { makeEndpointSubsets, makeService, snapshotOf } from '../api/testing/object-builders.js';
import { formatRr, renderZoneFile } from './zone-file.js';
import type { RecordIndex } from './records.js';
import { buildRecordIndex } from './zone-records.js';

describe('renderZoneFile', () => {
  const snap = snapshotOf(
    [
      makeService('default', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }] }),
      makeService('default', 'ext', { type: 'ExternalName', externalName: 'example.com' }),
      makeService('default', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }),
      makeService('dual', 'web6', {
        ipFamilyPolicy: 'PreferDualStack',
        clusterIPs: ['10.96.0.30', 'fd00:10:96::30'],
        ports: [{ port: 80 }],
      }),
    ],
    [
      makeEndpointSubsets('default', 'db', [
        { addresses: [{ ip: '10.244.1.5' }, { ip: '10.99.0.1' }], ports: [{ name: 'pg', port: 5432 }] },
      ]),
    ],
    42,
  );
  // Built before each test, not at file load, so Stryker runs a mutant in the index code only against the tests that reach it.
  let index: RecordIndex;
  beforeEach(() => {
    index = buildRecordIndex(snap, { ...fixtureConfig(), nsAddresses: ['10.96.0.10'] });
  });

  it("writes the cluster zone as a master file: the SOA first, then every name in byte order, no other zone's records", () => {
    expect(renderZoneFile(index, 'cluster.local')).toBe(
      [
        'cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5',
        '10-244-1-5.db.default.svc.cluster.local. 5 IN A 10.244.1.5',
        '10-99-0-1.db.default.svc.cluster.local. 5 IN A 10.99.0.1',
        '_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.',
        '_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 50 5432 10-244-1-5.db.default.svc.cluster.local.',
        '_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 50 5432 10-99-0-1.db.default.svc.cluster.local.',
        'cluster.local. 5 IN NS ns.dns.cluster.local.',
        'db.default.svc.cluster.local. 5 IN A 10.244.1.5',
        'db.default.svc.cluster.local. 5 IN A 10.99.0.1',
        'db.default.svc.cluster.local. 5 IN SRV 0 50 5432 10-244-1-5.db.default.svc.cluster.local.',
        'db.default.svc.cluster.local. 5 IN SRV 0 50 5432 10-99-0-1.db.default.svc.cluster.local.',
        'dns-version.cluster.local. 5 IN TXT "1.1.0"',
        'ext.default.svc.cluster.local. 5 IN CNAME example.com.',
        'ns.dns.cluster.local. 5 IN A 10.96.0.10',
        'web.default.svc.cluster.local. 5 IN A 10.96.0.20',
        'web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.',
        'web6.dual.svc.cluster.local. 5 IN A 10.96.0.30',
        'web6.dual.svc.cluster.local. 5 IN AAAA fd00:10:96::30',
        'web6.dual.svc.cluster.local. 5 IN SRV 0 100 80 web6.dual.svc.cluster.local.',
        '',
      ].join('\n'),
    );
  });

  it('writes a reverse zone with its own SOA and PTRs, none from the narrower pod zone 244.10.in-addr.arpa inside it', () => {
    expect(renderZoneFile(index, '10.in-addr.arpa')).toBe(
      [
        '10.in-addr.arpa. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5',
        '1.0.99.10.in-addr.arpa. 5 IN PTR 10-99-0-1.db.default.svc.cluster.local.',
        '10.in-addr.arpa. 5 IN NS ns.dns.cluster.local.',
        '20.0.96.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local.',
        '30.0.96.10.in-addr.arpa. 5 IN PTR web6.dual.svc.cluster.local.',
        '',
      ].join('\n'),
    );
    expect(renderZoneFile(index, 'nowhere.example')).toBe('\n');
  });

  it('formats TXT strings quoted and escaped', () => {
    expect(formatRr({ name: 'a', type: 'TXT', ttl: 1, data: ['x y', 'q"'] })).toBe('a. 1 IN TXT "x y" "q\\""');
  });
});
