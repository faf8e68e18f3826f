import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../api/cluster-state.js';
import { registry } from '../observe/metrics.js';
import { decodeReply, exchange, encodeQuery, query } from './dns-client.js';
import { DnsHandler } from './dns-handler.js';
import { fixtureConfig, fixtureSnapshot } from './testing/fixture-cluster.js';
import { makeEndpointSubsets, makeService, snapshotOf } from '../api/testing/object-builders.js';
import { Forwarder } from './forward.js';
import { DnsServer, parseListenList, type ListenAddress } from './server.js';

// Servers on 127.0.0.1, free ports. The stub upstream answers every A question with 198.51.100.7.
const ac = new AbortController();
let addr: ListenAddress;
let openAddr: ListenAddress;
let unsynced: ListenAddress;
let upstream: dgram.Socket;

function startStubUpstream(): Promise<dgram.Socket> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const reply = dnsPacket.encode({
      type: 'response',
      id: q.id ?? 0,
      flags: dnsPacket.RECURSION_AVAILABLE,
      questions: q.questions ?? [],
      answers: (q.questions ?? []).map((qq) => ({ name: qq.name, type: 'A' as const, ttl: 60, data: '198.51.100.7' })),
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock)));
}

async function serve(handler: DnsHandler): Promise<ListenAddress> {
  return new DnsServer({ handler, listen: { host: '127.0.0.1', port: 0 } }).start(ac.signal);
}

function newForwarder(): Forwarder {
  // The first upstream refuses (port 1): every forward tries it, fails, then fails over to the stub.
  return new Forwarder({
    upstreams: [
      { host: '127.0.0.1', port: 1 },
      { host: '127.0.0.1', port: upstream.address().port },
    ],
    timeoutMs: 300,
  });
}

/** The DNS fixture cluster plus default/big, a headless service with 120 endpoints. */
function bigSnapshot(): ClusterSnapshot {
  const many = Array.from({ length: 120 }, (_, i) => ({ ip: `10.244.7.${i + 1}` }));
  const snap = fixtureSnapshot();
  return snapshotOf(
    [...snap.services.values(), makeService('default', 'big', { clusterIP: 'None', ports: [{ name: 'x', port: 1 }] })],
    [...snap.endpoints.values(), makeEndpointSubsets('default', 'big', [{ addresses: many, ports: [{ name: 'x', port: 1 }] }])],
    42,
    [...snap.pods.values()],
  );
}

/** A server over a synced handler with its own forwarder; the "closed" one allows nobody to recurse. */
async function serveCluster(recursion: boolean): Promise<ListenAddress> {
  const handler = new DnsHandler({ config: fixtureConfig(), forwarder: newForwarder(), recursionAllowed: () => recursion });
  handler.setSnapshot(bigSnapshot());
  return serve(handler);
}

beforeAll(async () => {
  upstream = await startStubUpstream();
  // 127.0.0.1 is loopback, always allowed to recurse by keel; these handlers decide for themselves.
  addr = await serveCluster(true);
  openAddr = await serveCluster(false);
  unsynced = await serve(new DnsHandler({ config: fixtureConfig(), forwarder: newForwarder(), recursionAllowed: () => true }));
});

afterAll(() => {
  ac.abort();
  upstream.close();
});

describe('DnsServer', () => {
  it('answers over UDP and TCP, echoing the client spelling', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const r = await query(addr, 'Web.DEFAULT.svc.cluster.local', 'A', { transport });
      expect(r.rcode).toBe('NOERROR');
      expect(r.flag_aa).toBe(true);
      expect(r.questions?.[0]?.name).toBe('Web.DEFAULT.svc.cluster.local');
      expect(r.answers).toEqual([
        expect.objectContaining({ name: 'Web.DEFAULT.svc.cluster.local', type: 'A', ttl: 5, data: '10.96.0.20' }),
      ]);
    }
  });

  it('answers NXDOMAIN with the SOA, and EDNS queries with an OPT', async () => {
    const r = await query(addr, 'nope.default.svc.cluster.local', 'A', { edns: 4096 });
    expect(r.rcode).toBe('NXDOMAIN');
    expect(r.authorities?.map((a) => a.type)).toEqual(['SOA']);
    expect(r.additionals?.map((a) => a.type)).toEqual(['OPT']);
  });

  it('sets TC when the answer exceeds the UDP size, and TCP carries it whole', async () => {
    const plain = await query(addr, 'big.default.svc.cluster.local', 'A');
    expect(plain.flag_tc).toBe(true);
    expect(plain.answers).toEqual([]);
    const small = await query(addr, 'db.default.svc.cluster.local', 'A');
    expect(small.flag_tc).toBe(false);
    const tcp = await query(addr, 'big.default.svc.cluster.local', 'A', { transport: 'tcp' });
    expect(tcp.flag_tc).toBe(false);
    expect(tcp.answers).toHaveLength(120);
    // 120 A records are 1,920 bytes: more than keel's EDNS limit of 1,232, whatever the client offers.
    const edns = await query(addr, 'big.default.svc.cluster.local', 'A', { edns: 65_000 });
    expect(edns.flag_tc).toBe(true);
    const srv = await query(addr, '_x._tcp.big.default.svc.cluster.local', 'SRV', { transport: 'tcp' });
    expect(srv.answers).toHaveLength(120);
    expect(srv.additionals).toHaveLength(120);
  });

  it('answers FORMERR, NOTIMP and BADVERS where the RFCs say so', async () => {
    const good = encodeQuery('web.default.svc.cluster.local', 'A');
    const twoQuestions = Buffer.from(good);
    twoQuestions.writeUInt16BE(2, 4);
    const trailing = Buffer.concat([good, Buffer.from([1, 2, 3])]);
    const cut = good.subarray(0, good.length - 3);
    for (const bad of [twoQuestions, trailing, cut]) {
      const r = decodeReply(await exchange(addr, bad, 'udp'));
      expect(r.rcode).toBe('FORMERR');
      expect(r.id).toBe(4242);
    }
    const notify = Buffer.from(good);
    notify.writeUInt16BE((4 << 11) | 0x100, 2);
    expect(decodeReply(await exchange(addr, notify, 'udp')).rcode).toBe('NOTIMP');
    const v1 = encodeQuery('web.default.svc.cluster.local', 'A', { edns: 1232 });
    v1[v1.length - 5] = 1; // OPT TTL's version byte
    const badvers = decodeReply(await exchange(addr, v1, 'udp'));
    const opt = badvers.additionals?.find((a) => a.type === 'OPT');
    expect(opt && 'extendedRcode' in opt ? opt.extendedRcode : undefined).toBe(1);
  });

  it('answers length-prefixed garbage over TCP with FORMERR and goes on serving TCP', async () => {
    const junk = Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 1, 2]);
    expect(decodeReply(await exchange(addr, junk, 'tcp')).rcode).toBe('FORMERR');
    expect((await query(addr, 'web.default.svc.cluster.local', 'A', { transport: 'tcp' })).rcode).toBe('NOERROR');
  });

  it('never answers packets that are responses or too short', async () => {
    const response = Buffer.from(encodeQuery('web.default.svc.cluster.local', 'A'));
    response[2] = response[2]! | 0x80;
    await expect(exchange(addr, response, 'udp', 200)).rejects.toThrow(/no udp reply/);
    await expect(exchange(addr, Buffer.from([1, 2, 3]), 'udp', 200)).rejects.toThrow(/no udp reply/);
  });

  it('forwards foreign names with failover, and refuses them to clients outside the cluster', async () => {
    const r = await query(addr, 'www.example.org', 'A', { id: 777 });
    expect(r.id).toBe(777);
    expect(r.flag_ra).toBe(true);
    expect(r.answers?.[0]).toMatchObject({ name: 'www.example.org', data: '198.51.100.7' });
    expect((await query(openAddr, 'www.example.org', 'A')).rcode).toBe('REFUSED');
    expect((await query(openAddr, 'web.default.svc.cluster.local', 'A')).rcode).toBe('NOERROR');
  });

  it('completes an ExternalName CNAME to a foreign name upstream, for clients allowed recursion', async () => {
    const r = await query(addr, 'ext.default.svc.cluster.local', 'A');
    expect(r.answers?.map((a) => [a.name, a.type, (a as { data?: unknown }).data])).toEqual([
      ['ext.default.svc.cluster.local', 'CNAME', 'example.com'],
      ['example.com', 'A', '198.51.100.7'],
    ]);
    const closed = await query(openAddr, 'ext.default.svc.cluster.local', 'A');
    expect(closed.answers?.map((a) => a.type)).toEqual(['CNAME']);
  });

  it('answers SERVFAIL for cluster names until the first snapshot, and still forwards', async () => {
    expect((await query(unsynced, 'web.default.svc.cluster.local', 'A')).rcode).toBe('SERVFAIL');
    expect((await query(unsynced, '20.0.96.10.in-addr.arpa', 'PTR')).rcode).toBe('SERVFAIL');
    expect((await query(unsynced, 'www.example.org', 'A')).rcode).toBe('NOERROR');
  });

  it('counts queries by type and rcode, forwarding by upstream, and the cache', async () => {
    // Its own server, handler and forwarder, and counts taken as differences: no other test's queries matter.
    const own = await serveCluster(true);
    const before = await registry.metrics();
    expect((await query(own, 'web.default.svc.cluster.local', 'A')).rcode).toBe('NOERROR');
    expect((await query(own, 'nope.default.svc.cluster.local', 'A')).rcode).toBe('NXDOMAIN');
    expect((await query(own, 'nope.default.svc.cluster.local', 'A')).rcode).toBe('NXDOMAIN');
    expect((await query(own, 'www.example.org', 'A')).rcode).toBe('NOERROR');
    const after = await registry.metrics();
    const grew = (series: string): number => sample(after, series) - sample(before, series);
    expect(grew('keel_dns_requests_total{type="A",rcode="NOERROR",transport="udp"}')).toBe(2);
    expect(grew('keel_dns_requests_total{type="A",rcode="NXDOMAIN",transport="udp"}')).toBe(2);
    expect(
      grew('keel_dns_forward_requests_total{upstream="127.0.0.1:1",result="error"}') +
        grew('keel_dns_forward_requests_total{upstream="127.0.0.1:1",result="timeout"}'),
    ).toBe(1);
    expect(grew('keel_dns_request_duration_seconds_count{source="forward"}')).toBe(1);
    expect(sample(after, 'keel_dns_cache_entries')).toBeGreaterThanOrEqual(2);
  });
});

/** One sample's value in Prometheus text format, 0 when the series does not exist yet. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('parseListenList', () => {
  it('reads one address per family, IPv6 in brackets, port 53 by default', () => {
    expect(parseListenList('10.244.1.1, [fd00:10:244:1::1]:5353')).toEqual([
      { host: '10.244.1.1', port: 53 },
      { host: 'fd00:10:244:1::1', port: 5353 },
    ]);
  });

  it('names the flag when an entry is no address', () => {
    expect(() => parseListenList('10.244.1.1,fd00::1:53')).toThrow('--dns-listen: "fd00::1:53" is not an address[:port]');
  });
});
