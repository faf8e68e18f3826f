import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { loadLibc } from '../kernel/tun/libc.js';
import { DnsHandler } from './dns-handler.js';
import { encodeQuery } from './dns-client.js';
import { Forwarder } from './forward.js';
import { bindReusePortGroup } from './reuseport-group.js';
import { fixtureConfig, fixtureSnapshot } from './testing/fixture-cluster.js';
import { UdpBatchServer } from './udp-batch-server.js';

// Real sockets on loopback: a SO_REUSEPORT group of one, a dgram client sending a burst, one serveBatch().
const libc = loadLibc();
const opened: number[] = [];
const clients: dgram.Socket[] = [];
afterEach(() => {
  for (const fd of opened.splice(0)) libc.close(fd);
  for (const c of clients.splice(0)) c.close();
});

function newHandler(): DnsHandler {
  const handler = new DnsHandler({ config: fixtureConfig(), recursionAllowed: () => false });
  handler.setSnapshot(fixtureSnapshot());
  return handler;
}

async function client(host: string): Promise<dgram.Socket> {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  clients.push(sock);
  await new Promise<void>((resolve) => sock.bind(0, host, resolve));
  return sock;
}

/** Sends every packet, then waits until the server's socket has something to read. */
async function burst(sock: dgram.Socket, fd: number, port: number, host: string, packets: Buffer[]): Promise<void> {
  for (const p of packets) await new Promise<void>((resolve) => sock.send(p, port, host, () => resolve()));
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(1, 4);
  expect(libc.poll(pfd, 1, 2000)).toBe(1);
}

function replies(sock: dgram.Socket, n: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve) =>
    sock.on('message', (m) => {
      got.push(m);
      if (got.length === n) resolve(got);
    }),
  );
}

describe('UdpBatchServer', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`answers a burst on ${host} in one batch, byte for byte as the one-query path does`, async () => {
      const { port, fds } = bindReusePortGroup(host, 0, 1);
      opened.push(...fds);
      const handler = newHandler();
      const server = new UdpBatchServer(fds[0] as number, handler, (err) => {
        throw err;
      });
      const queries = [
        encodeQuery('web.default.svc.cluster.local', 'A', { id: 1 }),
        encodeQuery('_http._tcp.web.default.svc.cluster.local', 'SRV', { id: 2, edns: 1232 }),
        encodeQuery('nosuch.default.svc.cluster.local', 'A', { id: 3 }),
        encodeQuery('db.default.svc.cluster.local', 'A', { id: 4 }),
      ];
      const sock = await client(host);
      const got = replies(sock, queries.length);
      await burst(sock, fds[0] as number, port, host, queries);
      // The burst may straddle two reads; every query is answered by the time the socket is empty.
      let taken = 0;
      while (taken < queries.length) taken += server.serveBatch();
      const byId = new Map((await got).map((r) => [r.readUInt16BE(0), r]));
      const address = host === '::1' ? '::1' : '127.0.0.1';
      for (const q of queries) expect(byId.get(q.readUInt16BE(0))).toEqual(handler.handle(q, { address, transport: 'udp' }));
    });
  }

  it('answers a forwarded question and a chased CNAME with their own ID and question after the next batch reused their slots', async () => {
    // A stub upstream that holds its answers until released, so the next batch surely lands in the slots first.
    const upstream = dgram.createSocket('udp4');
    clients.push(upstream);
    const held: (() => void)[] = [];
    let released = false;
    let heard = (): void => {};
    upstream.on('message', (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      const answers = (q.questions ?? []).map((qq) => ({ name: qq.name, type: 'A' as const, ttl: 60, data: '198.51.100.7' }));
      const reply = dnsPacket.encode({
        type: 'response',
        id: q.id ?? 0,
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions ?? [],
        answers,
      });
      const send = (): void => upstream.send(reply, rinfo.port, rinfo.address);
      if (released) send();
      else (held.push(send), heard());
    });
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
    const handler = new DnsHandler({
      config: fixtureConfig(),
      forwarder: new Forwarder({ upstreams: [{ host: '127.0.0.1', port: upstream.address().port }] }),
      recursionAllowed: () => true,
    });
    handler.setSnapshot(fixtureSnapshot());
    const { port, fds } = bindReusePortGroup('127.0.0.1', 0, 1);
    opened.push(...fds);
    const fd = fds[0] as number;
    const server = new UdpBatchServer(fd, handler, (err) => {
      throw err;
    });
    const waiting = [encodeQuery('ext.default.svc.cluster.local', 'A', { id: 1 }), encodeQuery('example.org', 'A', { id: 2 })];
    const local = [
      encodeQuery('web.default.svc.cluster.local', 'A', { id: 3 }),
      encodeQuery('db.default.svc.cluster.local', 'A', { id: 4 }),
    ];
    const sock = await client('127.0.0.1');
    const got = replies(sock, 4);
    const bothAsked = new Promise<void>((resolve) => (heard = () => held.length === 2 && resolve()));
    await burst(sock, fd, port, '127.0.0.1', waiting);
    for (let taken = 0; taken < 2;) taken += server.serveBatch();
    await bothAsked;
    await burst(sock, fd, port, '127.0.0.1', local);
    for (let taken = 0; taken < 2;) taken += server.serveBatch();
    released = true;
    for (const send of held) send();
    const byId = new Map((await got).map((r) => [r.readUInt16BE(0), r]));
    expect([...byId.keys()].sort()).toEqual([1, 2, 3, 4]);
    for (const q of [...waiting, ...local])
      expect(byId.get(q.readUInt16BE(0))).toEqual(await handler.handle(q, { address: '127.0.0.1', transport: 'udp' }));
  });

  it('drops a query longer than its slot and still answers the rest of the batch', async () => {
    const { port, fds } = bindReusePortGroup('127.0.0.1', 0, 1);
    opened.push(...fds);
    const server = new UdpBatchServer(fds[0] as number, newHandler(), (err) => {
      throw err;
    });
    const sock = await client('127.0.0.1');
    const got = replies(sock, 1);
    const tooLong = Buffer.concat([encodeQuery('web.default.svc.cluster.local', 'A', { id: 7 }), Buffer.alloc(3000)]);
    await burst(sock, fds[0] as number, port, '127.0.0.1', [tooLong, encodeQuery('web.default.svc.cluster.local', 'A', { id: 8 })]);
    let taken = 0;
    while (taken < 2) taken += server.serveBatch();
    expect((await got).map((r) => r.readUInt16BE(0))).toEqual([8]);
    expect(server.serveBatch()).toBe(0);
  });
});

describe('bindReusePortGroup', () => {
  it('binds every socket to one port, which a socket without SO_REUSEPORT cannot take', async () => {
    const { port, fds } = bindReusePortGroup('127.0.0.1', 0, 3);
    opened.push(...fds);
    expect(fds).toHaveLength(3);
    const again = bindReusePortGroup('127.0.0.1', port, 1);
    opened.push(...again.fds);
    expect(again.port).toBe(port);
    const plain = dgram.createSocket('udp4');
    await expect(
      new Promise((resolve, reject) => (plain.once('error', reject), plain.bind(port, '127.0.0.1', () => resolve(true)))),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
