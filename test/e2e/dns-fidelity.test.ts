import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectKey, type ApiObject } from '../../src/api/object.js';
import { validateService } from '../../src/api/service.js';
import { fixtureSnapshot } from '../../src/dns/testing/fixture-cluster.js';
import { makeEndpointSubsets, makeService } from '../../src/api/testing/object-builders.js';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { KvStore } from '../../src/store/kv-store.js';
import { encodeForStorage } from '../../src/store/object-store.js';
import { DnsLab } from './dns-lab.js';

/*
 * CoreDNS behaviours a client would notice, asked with the real dig from a pod namespace of the
 * DNS lab (address plan at the top of dns-lab.ts; objects: the DNS fixture cluster plus
 * default/big, an ExternalName to big.example.org). keel dns runs with its defaults, --node-ip
 * 10.244.1.1 (the ns.dns.<zone> address), and this file's upstream on 127.0.0.1:5301:
 *   big.example.org A   over UDP: 3 of its 30 addresses with TC set (and only those, without EDNS0
 *                       room); over TCP or with EDNS0 room for all: all 30 (203.0.113.1-30)
 *   notcp.example.org A over UDP always 3 addresses with TC; over TCP the connection closes without an answer
 *   any other A         198.51.100.7
 * default/notcp is an ExternalName to notcp.example.org; default/tolerant is headless with the
 * tolerate-unready-endpoints annotation and one not-ready address, 10.244.4.4.
 */
const PREFIX = '/registry';
const lab = new DnsLab();
let kv: KvStore;

async function put(obj: ApiObject): Promise<void> {
  await kv.put(objectKey(PREFIX, obj.kind, obj.metadata.namespace, obj.metadata.name), encodeForStorage(obj));
}

async function dig(...args: string[]): Promise<string> {
  return (await lab.exec(lab.pod, 'dig', ['@10.244.1.1', '+time=2', '+tries=1', ...args])).stdout;
}

const status = (out: string): string | undefined => /status: (\w+)/.exec(out)?.[1];
const section = (out: string, name: string): string[] =>
  (new RegExp(`;; ${name} SECTION:\\n([^]*?)(?:\\n\\n|$)`).exec(out)?.[1] ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/).join(' '));

/** Sends raw bytes over UDP from the pod namespace and returns the reply's header rcode and counts. */
async function rawUdp(packet: Buffer): Promise<{ rcode: number; qdcount: number }> {
  const script = `const d=require('dgram').createSocket('udp4');d.on('message',(m)=>{console.log(JSON.stringify({rcode:m[3]&15,qdcount:m.readUInt16BE(4)}));d.close();});d.send(Buffer.from('${packet.toString('hex')}','hex'),53,'10.244.1.1');`;
  return JSON.parse((await lab.exec(lab.pod, process.execPath, ['-e', script])).stdout) as { rcode: number; qdcount: number };
}

/** Upstream for big.example.org: truncates over UDP unless the query's EDNS0 size takes all 40 records. */
const UPSTREAM = `
const dgram = require('node:dgram'); const net = require('node:net');
function answer(q, tcp) {
  let o = 12; const labels = []; while (q[o] !== 0) { labels.push(q.subarray(o + 1, o + 1 + q[o]).toString()); o += q[o] + 1; } o += 5;
  const name = labels.join('.').toLowerCase(); const isA = q.readUInt16BE(o - 4) === 1;
  let edns = 0; if (q.readUInt16BE(10) > 0 && q[o] === 0 && q.readUInt16BE(o + 1) === 41) edns = q.readUInt16BE(o + 3);
  const rr = (i) => Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, i]);
  let list = []; let tc = false;
  if (tcp && name === 'notcp.example.org') return undefined;
  if (isA && (name === 'big.example.org' || name === 'notcp.example.org')) {
    list = Array.from({ length: 30 }, (_, i) => rr(i + 1));
    if (!tcp && (name === 'notcp.example.org' || 12 + (o - 12) + 30 * 16 > Math.max(512, edns))) { list = list.slice(0, 3); tc = true; }
  } else if (isA) list = [Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7])];
  const h = Buffer.from(q.subarray(0, o)); h[2] |= 0x80 | (tc ? 0x02 : 0); h[3] = 0x80; h.writeUInt16BE(list.length, 6); h.writeUInt16BE(0, 8); h.writeUInt16BE(0, 10);
  return Buffer.concat([h, ...list]);
}
const s = dgram.createSocket('udp4'); s.on('message', (q, r) => s.send(answer(q, false), r.port, r.address)); s.bind(5301, '127.0.0.1');
net.createServer((c) => { let b = Buffer.alloc(0); c.on('data', (d) => { b = Buffer.concat([b, d]);
  if (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0)) { const a = answer(b.subarray(2, 2 + b.readUInt16BE(0)), true); if (!a) { c.destroy(); return; } const l = Buffer.alloc(2); l.writeUInt16BE(a.length); c.end(Buffer.concat([l, a])); } });
}).listen(5301, '127.0.0.1');`;

beforeAll(async () => {
  await lab.up();
  kv = new KvStore(createEtcdClient({ endpoints: [lab.etcdEndpoint] }), [lab.etcdEndpoint]);
  const snap = fixtureSnapshot();
  const big = makeService('default', 'big', { type: 'ExternalName', externalName: 'big.example.org' });
  const notcp = makeService('default', 'notcp', { type: 'ExternalName', externalName: 'notcp.example.org' });
  const tolerant = validateService({
    apiVersion: 'v1',
    kind: 'Service',
    spec: { clusterIP: 'None', ports: [{ name: 'x', port: 80 }] },
    metadata: { namespace: 'default', name: 'tolerant', annotations: { 'service.alpha.kubernetes.io/tolerate-unready-endpoints': 'true' } },
  });
  const tolerantEps = makeEndpointSubsets('default', 'tolerant', [
    { notReadyAddresses: [{ ip: '10.244.4.4' }], ports: [{ name: 'x', port: 80 }] },
  ]);
  for (const obj of [...snap.services.values(), big, notcp, tolerant, tolerantEps, ...snap.endpoints.values(), ...snap.pods.values()])
    await put(obj);
  lab.spawnIn(lab.node, 'node', ['-e', UPSTREAM], 'upstream.log');
  lab.startKeelDns({ prefix: PREFIX, upstream: '127.0.0.1:5301', extra: ['--node-ip', '10.244.1.1'] });
  for (let i = 0; i < 100; i++) {
    if (status(await dig('web.default.svc.cluster.local').catch(() => '')) === 'NOERROR') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('keel dns did not answer');
}, 90_000);

afterAll(async () => {
  kv?.close();
  await lab.down();
});

describe('keel dns answers as CoreDNS does (real dig)', () => {
  // RFC 1035 2.3.4; CoreDNS (miekg/dns unpacking) answers FORMERR past 255 octets.
  it('answers a 255-octet name and refuses a 256-octet one with FORMERR', async () => {
    const name255 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(status(await dig(name255))).toBe('NOERROR'); // forwarded: the stub answers every A
    const label = (n: number, c: number) => Buffer.from([n, ...Buffer.alloc(n, c)]);
    const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    const q = (last: number) =>
      Buffer.concat([header, label(63, 0x61), label(63, 0x62), label(63, 0x63), label(last, 0x64), Buffer.from([0, 0, 1, 0, 1])]);
    expect(await rawUdp(q(61))).toEqual({ rcode: 0, qdcount: 1 });
    expect(await rawUdp(q(62))).toEqual({ rcode: 1, qdcount: 0 });
  });

  // CoreDNS kubernetes.go findServices: an SRV question at the bare service name matches every port.
  it('answers SRV at the bare service name with every port, targets in the additional section', async () => {
    const out = await dig('SRV', 'web.default.svc.cluster.local');
    expect(section(out, 'ANSWER')).toEqual([
      'web.default.svc.cluster.local. 5 IN SRV 0 50 80 web.default.svc.cluster.local.',
      'web.default.svc.cluster.local. 5 IN SRV 0 50 514 web.default.svc.cluster.local.',
    ]);
    expect(section(out, 'ADDITIONAL')).toContain('web.default.svc.cluster.local. 5 IN A 10.96.0.20');
  });

  // Resolvers using 0x20 randomisation (unbound, CoreDNS's own forward) compare the echoed question byte for byte.
  it('keeps the letter case of the question (0x20) in the question and answer owner names', async () => {
    const out = await dig('+noedns', 'wEb.DeFaUlT.sVc.ClUsTeR.lOcAl');
    expect(section(out, 'QUESTION')).toEqual([';wEb.DeFaUlT.sVc.ClUsTeR.lOcAl. IN A']);
    expect(section(out, 'ANSWER')).toEqual(['wEb.DeFaUlT.sVc.ClUsTeR.lOcAl. 5 IN A 10.96.0.20']);
  });

  // CoreDNS backend_lookup.go NS + kubernetes/ns.go: glue for ns.dns.<zone> with the apex NS answer.
  it('answers the apex NS with ns.dns.<zone> and its address as glue', async () => {
    const out = await dig('NS', 'cluster.local');
    expect(section(out, 'ANSWER')).toEqual(['cluster.local. 5 IN NS ns.dns.cluster.local.']);
    expect(section(out, 'ADDITIONAL')).toEqual(['ns.dns.cluster.local. 5 IN A 10.244.1.1']);
  });

  // CoreDNS findPods, `pods insecure` (kubeadm's Corefile; keel's default --pod-records).
  it('answers any dashed address under an existing namespace with the default --pod-records insecure', async () => {
    expect(section(await dig('10-244-9-9.default.pod.cluster.local'), 'ANSWER')).toEqual([
      '10-244-9-9.default.pod.cluster.local. 5 IN A 10.244.9.9',
    ]);
    expect(status(await dig('10-244-9-9.nosuchns.pod.cluster.local'))).toBe('NXDOMAIN');
    expect(status(await dig('not-an-ip.default.pod.cluster.local'))).toBe('NXDOMAIN');
  });

  // CoreDNS kubernetes.go findServices (headless: no address, errNoItems); DNS spec 2.4.1.
  it('answers NXDOMAIN for a headless service without ready endpoints, and honours tolerate-unready-endpoints', async () => {
    expect(status(await dig('empty.default.svc.cluster.local'))).toBe('NXDOMAIN');
    expect(section(await dig('tolerant.default.svc.cluster.local'), 'ANSWER')).toEqual([
      'tolerant.default.svc.cluster.local. 5 IN A 10.244.4.4',
    ]);
  });

  // ExternalName chasing: the upstream lookup must be as complete as the client could have had it directly.
  describe('ExternalName whose target answer is too large for plain UDP', () => {
    const flags = (out: string): string[] => (/;; flags: ([a-z ]+);/.exec(out)?.[1] ?? '').split(' ');
    const answers = (out: string): number => Number(/ANSWER: (\d+)/.exec(out)?.[1] ?? -1);

    it('never hands a UDP client the truncated upstream answer as complete: TC, no records', async () => {
      const out = await dig('+ignore', '+noedns', 'big.default.svc.cluster.local');
      expect(flags(out)).toContain('tc');
      expect(answers(out)).toBe(0);
    });

    it('retries upstream over TCP, so the client retrying over TCP gets all 30 addresses', async () => {
      const out = await dig('+noedns', 'big.default.svc.cluster.local');
      expect(answers(out)).toBe(31);
      expect(section(out, 'ANSWER')[0]).toBe('big.default.svc.cluster.local. 5 IN CNAME big.example.org.');
      expect(out).toContain('(TCP)');
    });

    it('asks upstream with EDNS0 at the client size, so an EDNS0 client gets it whole over UDP', async () => {
      const out = await dig('+bufsize=1232', 'big.default.svc.cluster.local');
      expect(flags(out)).not.toContain('tc');
      expect(answers(out)).toBe(31);
      expect(out).toContain('(UDP)');
    });

    it("chases a TCP client's question over TCP", async () => {
      expect(answers(await dig('+tcp', 'big.default.svc.cluster.local'))).toBe(31);
    });

    it('passes TC on when upstream cannot do better (its TCP fails): the CNAME alone, marked truncated', async () => {
      const out = await dig('+ignore', '+bufsize=1232', 'notcp.default.svc.cluster.local');
      expect(flags(out)).toContain('tc');
      expect(section(out, 'ANSWER')).toEqual(['notcp.default.svc.cluster.local. 5 IN CNAME notcp.example.org.']);
    });
  });
});
