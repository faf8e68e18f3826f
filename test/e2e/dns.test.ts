import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectKey } from '../../src/api/object.js';
import type { ApiObject } from '../../src/api/object.js';
import { fixtureSnapshot } from '../../src/dns/testing/fixture-cluster.js';
import { renderResolvConf } from '../../src/dns/resolv-conf.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { KvStore } from '../../src/store/kv-store.js';
import { encodeForStorage } from '../../src/store/object-store.js';
import { DnsLab } from './dns-lab.js';

// Real etcd, real `keel dns` in a node namespace, real dig and glibc in a pod namespace.
// The lab's address plan is at the top of dns-lab.ts; the objects are the DNS fixture cluster.
// keel dns runs with a TTL other than the default 5, so a TTL hard-coded anywhere shows.
const PREFIX = '/registry';
const TTL = 37;
const lab = new DnsLab();
let kv: KvStore;

async function put(obj: ApiObject): Promise<void> {
  await kv.put(objectKey(PREFIX, obj.kind, obj.metadata.namespace, obj.metadata.name), encodeForStorage(obj));
}

async function dig(...args: string[]): Promise<string> {
  return (await lab.exec(lab.pod, 'dig', ['+time=2', '+tries=1', ...args])).stdout;
}

async function digShort(...args: string[]): Promise<string[]> {
  return (await dig('+short', ...args)).split('\n').filter(Boolean).sort();
}

async function getent(db: string, name: string): Promise<string> {
  const res = await lab.exec(lab.pod, 'getent', [db, name]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return res.stdout;
}

function status(out: string): string | undefined {
  return /status: (\w+)/.exec(out)?.[1];
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, tries = 100): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: still ${JSON.stringify(last)}`);
}

beforeAll(async () => {
  await lab.up();
  kv = new KvStore(createEtcdClient({ endpoints: [lab.etcdEndpoint] }), [lab.etcdEndpoint]);
  const snap = fixtureSnapshot();
  for (const obj of [...snap.services.values(), ...snap.endpoints.values(), ...snap.pods.values()]) await put(obj);
  lab.writeResolvConf(renderResolvConf({ nameservers: ['10.244.1.1'], namespace: 'default', zone: 'cluster.local' }));
  lab.startStubUpstream();
  // Two UDP worker threads, each with its own SO_REUSEPORT socket: every test here also holds whichever
  // worker the kernel hands a query to; the other DNS suites run the default one worker.
  lab.startKeelDns({ prefix: PREFIX, upstream: '127.0.0.1:5300', extra: ['--dns-ttl', String(TTL), '--dns-workers', '2'] });
  await until(
    'keel dns answering',
    () => dig('web.default.svc.cluster.local').catch(() => ''),
    (out) => status(out) === 'NOERROR',
  );
}, 90_000);

afterAll(async () => {
  kv?.close();
  await lab.down();
});

describe('keel dns from a pod namespace', () => {
  it('dig resolves the short, namespaced and full names through the search list', async () => {
    for (const name of ['web', 'web.default', 'web.default.svc.cluster.local']) {
      expect(await digShort('+search', name), name).toEqual(['10.96.0.20']);
    }
  });

  it('glibc resolves the same names (getent hosts, ndots:5 search)', async () => {
    for (const name of ['web', 'web.default', 'web.default.svc.cluster.local']) {
      expect((await getent('hosts', name)).split(/\s+/)[0], name).toBe('10.96.0.20');
    }
  });

  it('answers SRV with the target address in the additional section, and PTR', async () => {
    expect(await digShort('SRV', '_http._tcp.web.default.svc.cluster.local')).toEqual(['0 100 80 web.default.svc.cluster.local.']);
    const full = await dig('SRV', '_http._tcp.web.default.svc.cluster.local');
    expect(full).toMatch(
      new RegExp(`ADDITIONAL SECTION:\nweb\\.default\\.svc\\.cluster\\.local\\.\\s+${TTL}\\s+IN\\s+A\\s+10\\.96\\.0\\.20`),
    );
    expect(await digShort('-x', '10.96.0.20')).toEqual(['web.default.svc.cluster.local.']);
    expect(await digShort('-x', '10.244.1.5')).toEqual(['db-0.db-all.default.svc.cluster.local.', 'db-0.db.default.svc.cluster.local.']);
  });

  it('a headless service resolves to its ready pod IPs, for dig and glibc', async () => {
    expect(await digShort('db.default.svc.cluster.local')).toEqual(['10.244.1.5', '10.244.2.6']);
    const hosts = (await getent('ahostsv4', 'db'))
      .split('\n')
      .map((l) => l.split(/\s+/)[0])
      .filter(Boolean);
    expect([...new Set(hosts)].sort()).toEqual(['10.244.1.5', '10.244.2.6']);
    expect(await digShort('db-0.db.default.svc.cluster.local')).toEqual(['10.244.1.5']);
  });

  it('forwards outside names to the upstream, and refuses them to clients outside the cluster', async () => {
    expect(await digShort('www.example.org')).toEqual(['198.51.100.7']);
    expect((await getent('hosts', 'www.example.org')).split(/\s+/)[0]).toBe('198.51.100.7');
    // ExternalName: keel completes the CNAME upstream, so glibc gets an address.
    expect((await getent('hosts', 'ext')).split(/\s+/)[0]).toBe('198.51.100.7');
    expect(status(await dig('-b', '172.30.9.2', '@10.244.1.1', 'www.example.org'))).toBe('REFUSED');
    expect(await digShort('-b', '172.30.9.2', '@10.244.1.1', 'web.default.svc.cluster.local')).toEqual(['10.96.0.20']);
  });

  it.each([
    ['A', 'web.default.svc.cluster.local', 'A', [`A ${TTL}`]],
    ['AAAA', 'web6.dual.svc.cluster.local', 'AAAA', [`AAAA ${TTL}`]],
    ['SRV', '_http._tcp.web.default.svc.cluster.local', 'SRV', [`SRV ${TTL}`]],
    ['PTR', '20.0.96.10.in-addr.arpa', 'PTR', [`PTR ${TTL}`]],
    ['CNAME', 'ext.default.svc.cluster.local', 'CNAME', [`CNAME ${TTL}`]],
    ['NXDOMAIN (SOA)', 'nope.default.svc.cluster.local', 'A', [`SOA ${TTL} minimum ${TTL}`]],
    ['NODATA (SOA)', 'web.default.svc.cluster.local', 'AAAA', [`SOA ${TTL} minimum ${TTL}`]],
  ])('dig sees --dns-ttl on %s', async (_kind, name, type, expected) => {
    const lines = (await dig('+noall', '+answer', '+authority', '-t', type, name)).split('\n').filter(Boolean);
    expect(
      lines.map((line) => {
        const f = line.split(/\s+/);
        return f[3] === 'SOA' ? `SOA ${f[1]} minimum ${f.at(-1)}` : `${f[3]} ${f[1]}`;
      }),
    ).toEqual(expected);
  });

  it('follows etcd: a new service appears, a deleted one becomes NXDOMAIN', async () => {
    const snap = fixtureSnapshot();
    const web = snap.services.get('default/web');
    if (!web) throw new Error('fixture lost default/web');
    await put({
      ...web,
      metadata: { ...web.metadata, name: 'late' },
      spec: { ...web.spec, clusterIP: '10.96.0.77', clusterIPs: ['10.96.0.77'] },
    });
    await until(
      'late appears',
      () => digShort('late.default.svc.cluster.local'),
      (v) => v.join() === '10.96.0.77',
      50,
    );
    await kv.delete(objectKey(PREFIX, 'Service', 'default', 'web'));
    const out = await until(
      'web deleted',
      () => dig('web.default.svc.cluster.local'),
      (o) => status(o) === 'NXDOMAIN',
      50,
    );
    expect(out).toMatch(new RegExp(`AUTHORITY SECTION:\ncluster\\.local\\.\\s+${TTL}\\s+IN\\s+SOA`));
    // Every search domain is NXDOMAIN now, so the bare name goes upstream (the stub answers anything).
    expect(await digShort('+search', 'web')).toEqual(['198.51.100.7']);
  });
});
