import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectKey, type ApiObject } from '../../src/api/object.js';
import { makeEndpointSubsets, makeService } from '../../src/api/testing/object-builders.js';
import { renderResolvConf } from '../../src/dns/resolv-conf.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { KvStore } from '../../src/store/kv-store.js';
import { encodeForStorage } from '../../src/store/object-store.js';
import { DnsLab } from './dns-lab.js';

/*
 * keel dns over IPv6 and for IPv6 services: real etcd, real `keel dns` in a node namespace listening on
 * one address per family, real dig and glibc in a pod namespace whose resolv.conf names only the IPv6
 * server. Address plan (dns-lab.ts with ipv6): keel on 10.244.1.1:53 and [fd00:10:244:1::1]:53; the pod
 * at fd00:10:244:1::10 (inside --cluster-cidr fd00:10:244::/56) and fd00:172:30:9::2 (outside it);
 * IPv6 upstream stub on [::1]:5300. Objects:
 *   default/web6  ClusterIP fd00:10:96::20 (IPv6 only), port http 80
 *   default/both  ClusterIPs 10.96.0.40 + fd00:10:96::40, port http 80
 *   default/db6   headless; ready fd00:10:244:1::5 (hostname db-0), fd00:10:244:2::6; port pg 5432
 */
const PREFIX = '/registry';
const TTL = 23;
const NS6 = 'fd00:10:244:1::1';
const lab = new DnsLab({ ipv6: true });
let kv: KvStore;

async function dig(...args: string[]): Promise<string> {
  return (await lab.exec(lab.pod, 'dig', ['+time=2', '+tries=1', ...args])).stdout;
}

async function digShort(...args: string[]): Promise<string[]> {
  return (await dig('+short', ...args)).split('\n').filter(Boolean).sort();
}

const status = (out: string): string | undefined => /status: (\w+)/.exec(out)?.[1];

beforeAll(async () => {
  await lab.up();
  kv = new KvStore(createEtcdClient({ endpoints: [lab.etcdEndpoint] }), [lab.etcdEndpoint]);
  const objects: ApiObject[] = [
    makeService('default', 'web6', { clusterIP: 'fd00:10:96::20', ipFamilies: ['IPv6'], ports: [{ name: 'http', port: 80 }] }),
    makeService('default', 'both', {
      clusterIPs: ['10.96.0.40', 'fd00:10:96::40'],
      ipFamilyPolicy: 'RequireDualStack',
      ports: [{ name: 'http', port: 80 }],
    }),
    makeService('default', 'db6', { clusterIP: 'None', ipFamilies: ['IPv6'], ports: [{ name: 'pg', port: 5432 }] }),
    makeEndpointSubsets('default', 'db6', [
      {
        addresses: [{ ip: 'fd00:10:244:1::5', hostname: 'db-0' }, { ip: 'fd00:10:244:2::6' }],
        ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
      },
    ]),
  ];
  for (const obj of objects) await kv.put(objectKey(PREFIX, obj.kind, obj.metadata.namespace, obj.metadata.name), encodeForStorage(obj));
  lab.writeResolvConf(renderResolvConf({ nameservers: [NS6], namespace: 'default', zone: 'cluster.local' }));
  lab.startStubUpstream('::1');
  lab.startKeelDns({
    prefix: PREFIX,
    upstream: '[::1]:5300',
    listen: `10.244.1.1:53,[${NS6}]:53`,
    clusterCidr: '10.244.0.0/16,fd00:10:244::/56',
    serviceRange: '10.96.0.0/12,fd00:10:96::/112',
    extra: ['--dns-ttl', String(TTL)],
  });
  for (let i = 0; i < 100; i++) {
    if (status(await dig(`@${NS6}`, 'web6.default.svc.cluster.local').catch(() => '')) === 'NOERROR') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('keel dns did not answer on its IPv6 address');
}, 90_000);

afterAll(async () => {
  kv?.close();
  await lab.down();
});

describe('keel dns over IPv6, for IPv6 and dual-stack services', () => {
  it('answers AAAA for an IPv6 ClusterIP over UDP and TCP on its IPv6 address, and nothing for A', async () => {
    expect(await digShort(`@${NS6}`, 'AAAA', 'web6.default.svc.cluster.local')).toEqual(['fd00:10:96::20']);
    expect(await digShort(`@${NS6}`, '+tcp', 'AAAA', 'web6.default.svc.cluster.local')).toEqual(['fd00:10:96::20']);
    const a = await dig(`@${NS6}`, 'A', 'web6.default.svc.cluster.local');
    expect([status(a), /ANSWER: (\d+)/.exec(a)?.[1]]).toEqual(['NOERROR', '0']);
  });

  it('answers both families for a dual-stack service, on either listen address', async () => {
    for (const server of [NS6, '10.244.1.1']) {
      expect(await digShort(`@${server}`, 'A', 'both.default.svc.cluster.local'), server).toEqual(['10.96.0.40']);
      expect(await digShort(`@${server}`, 'AAAA', 'both.default.svc.cluster.local'), server).toEqual(['fd00:10:96::40']);
    }
  });

  it('answers PTR under ip6.arpa for IPv6 ClusterIPs and IPv6 endpoints', async () => {
    expect(await digShort(`@${NS6}`, '-x', 'fd00:10:96::40')).toEqual(['both.default.svc.cluster.local.']);
    expect(await digShort(`@${NS6}`, '-x', 'fd00:10:244:1::5')).toEqual(['db-0.db6.default.svc.cluster.local.']);
    expect(await digShort(`@${NS6}`, '-x', 'fd00:10:244:2::6')).toEqual(['fd00-10-244-2--6.db6.default.svc.cluster.local.']);
  });

  it('answers a headless service with its IPv6 endpoints, and SRV with AAAA glue', async () => {
    expect(await digShort(`@${NS6}`, 'AAAA', 'db6.default.svc.cluster.local')).toEqual(['fd00:10:244:1::5', 'fd00:10:244:2::6']);
    expect(await digShort(`@${NS6}`, 'AAAA', 'db-0.db6.default.svc.cluster.local')).toEqual(['fd00:10:244:1::5']);
    const srv = await dig(`@${NS6}`, 'SRV', '_pg._tcp.db6.default.svc.cluster.local');
    expect(srv).toMatch(
      new RegExp(`ADDITIONAL SECTION:[^]*db-0\\.db6\\.default\\.svc\\.cluster\\.local\\.\\s+${TTL}\\s+IN\\s+AAAA\\s+fd00:10:244:1::5`),
    );
  });

  it('glibc in the pod resolves a short name through the IPv6 nameserver and the search list', async () => {
    const { stdout } = await lab.exec(lab.pod, 'getent', ['ahostsv6', 'web6']);
    expect(stdout.split(/\s+/)[0]).toBe('fd00:10:96::20');
  });

  it('forwards a foreign AAAA question to the IPv6 upstream for a pod, and refuses it for an address outside the pod ranges', async () => {
    expect(await digShort(`@${NS6}`, '-b', 'fd00:10:244:1::10', 'AAAA', 'www.example.org')).toEqual(['2001:db8::7']);
    expect(status(await dig(`@${NS6}`, '-b', 'fd00:172:30:9::2', 'AAAA', 'www.example.org'))).toBe('REFUSED');
  });
});
