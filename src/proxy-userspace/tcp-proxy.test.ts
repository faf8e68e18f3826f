import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../observe/log.js';
import { RoundRobin } from './round-robin.js';
import { TcpProxy } from './tcp-proxy.js';

/* Loopback only: backends and proxies on 127.0.0.1, free ports chosen by the kernel. */
const logger = createLogger('test');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A backend that answers each connection with its name and, after the client's FIN, what it received. */
async function backend(name: string): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => s.end(`${name}:${Buffer.concat(chunks).toString()}`));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Sends a message, shuts down the write side, and reads the reply to its end. */
function halfCloseRequest(port: number, body: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    c.on('connect', () => c.end(body));
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks)));
    c.on('error', reject);
  });
}

async function startProxy(rr: RoundRobin, name = 'default/web:'): Promise<number> {
  const proxy = new TcpProxy({ name, logger, pick: (ip, retry) => rr.next(name, ip, retry), dialTimeoutsMs: [250, 250, 250] });
  const port = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => proxy.close());
  return port;
}

describe('TcpProxy', () => {
  it('alternates over two endpoints and passes a half-closed request its full reply', async () => {
    const rr = new RoundRobin();
    rr.update('default/web:', [`127.0.0.1:${await backend('a')}`, `127.0.0.1:${await backend('b')}`], undefined);
    const port = await startProxy(rr);
    const replies: string[] = [];
    for (let i = 0; i < 4; i++) replies.push((await halfCloseRequest(port, `req${i}`)).toString());
    const names = replies.map((r) => r.split(':')[0]);
    expect(new Set([names[0], names[1]])).toEqual(new Set(['a', 'b']));
    expect(names).toEqual([names[0], names[1], names[0], names[1]]);
    expect(replies.map((r) => r.split(':')[1])).toEqual(['req0', 'req1', 'req2', 'req3']);
  });

  it('skips a refused endpoint so the client never notices', async () => {
    const rr = new RoundRobin();
    const dead = await freePort();
    rr.update('default/web:', [`127.0.0.1:${dead}`, `127.0.0.1:${await backend('alive')}`], undefined);
    const port = await startProxy(rr);
    for (let i = 0; i < 4; i++) expect((await halfCloseRequest(port, 'x')).toString()).toBe('alive:x');
  });

  it('closes the client at once when no endpoint is ready', async () => {
    const rr = new RoundRobin();
    rr.update('default/web:', [], undefined);
    const port = await startProxy(rr);
    expect((await halfCloseRequest(port, 'x')).length).toBe(0);
  });

  it('relays a large body byte-exact in both directions', async () => {
    const rr = new RoundRobin();
    rr.update('default/web:', [`127.0.0.1:${await backend('e')}`], undefined);
    const port = await startProxy(rr);
    const body = randomBytes(8 << 20).toString('base64');
    const reply = await halfCloseRequest(port, body);
    const hash = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
    expect(hash(reply)).toBe(hash(`e:${body}`));
  });
});
