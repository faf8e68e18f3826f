import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../observe/log.js';
import { RoundRobin } from './round-robin.js';
import { NativeRelay, NativeTcpProxy } from './native-relay.js';
import { TcpProxy } from './tcp-proxy.js';

/*
 * Loopback only: backends and proxies on 127.0.0.1, free ports chosen by the kernel. Every case runs
 * against both relays (--userspace-relay node and native); the native one's worker is bundled from
 * source into a directory under node_modules/.cache, where it finds koffi.
 */
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

const NAME = 'default/web:';
let workerDir = '';
beforeAll(async () => {
  mkdirSync(join('node_modules', '.cache'), { recursive: true });
  workerDir = mkdtempSync(join('node_modules', '.cache', 'keel-relay-'));
  await execa(join('node_modules', '.bin', 'esbuild'), [
    fileURLToPath(new URL('native-relay-worker.ts', import.meta.url)),
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--packages=external',
    `--outfile=${join(workerDir, 'native-relay-worker.js')}`,
    '--log-level=warning',
  ]);
});
afterAll(() => rmSync(workerDir, { recursive: true, force: true }));

interface Started {
  port: number;
  /** Replaces the endpoints, as a sync does. */
  route(endpoints: readonly string[], affinitySeconds?: number): void;
}

/** A TCP proxy on 127.0.0.1 with these endpoints, run by one of the two relays. */
async function startProxy(relay: 'node' | 'native', endpoints: readonly string[], affinitySeconds?: number): Promise<Started> {
  const dialTimeoutsMs = [250, 250, 250];
  if (relay === 'node') {
    const rr = new RoundRobin();
    rr.update(NAME, endpoints, affinitySeconds);
    const proxy = new TcpProxy({ name: NAME, logger, pick: (ip, retry) => rr.next(NAME, ip, retry), dialTimeoutsMs });
    const port = await proxy.listen(0, '127.0.0.1');
    cleanups.push(() => proxy.close());
    return { port, route: (e, a) => rr.update(NAME, e, a) };
  }
  const native = new NativeRelay({ logger, workerUrl: pathToFileURL(join(workerDir, 'native-relay-worker.js')) });
  native.route(NAME, endpoints, affinitySeconds);
  const proxy = new NativeTcpProxy({ name: NAME, relay: native, dialTimeoutsMs });
  const port = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => native.stop());
  cleanups.push(() => proxy.close());
  return { port, route: (e, a) => native.route(NAME, e, a) };
}

/** The name of the backend that answered each of `count` requests. */
async function answers(port: number, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push((await halfCloseRequest(port, 'x')).toString().split(':')[0] ?? '');
  return names;
}

const at = (port: number): string => `127.0.0.1:${port}`;

describe.each(['node', 'native'] as const)('TcpProxy, %s relay', (relay) => {
  it('alternates over two endpoints and passes a half-closed request its full reply', async () => {
    const { port } = await startProxy(relay, [at(await backend('a')), at(await backend('b'))]);
    const replies: string[] = [];
    for (let i = 0; i < 4; i++) replies.push((await halfCloseRequest(port, `req${i}`)).toString());
    const names = replies.map((r) => r.split(':')[0]);
    expect(new Set([names[0], names[1]])).toEqual(new Set(['a', 'b']));
    expect(names).toEqual([names[0], names[1], names[0], names[1]]);
    expect(replies.map((r) => r.split(':')[1])).toEqual(['req0', 'req1', 'req2', 'req3']);
  });

  it('keeps a client on one endpoint with ClientIP affinity', async () => {
    const { port } = await startProxy(relay, [at(await backend('a')), at(await backend('b'))], 10800);
    expect(new Set(await answers(port, 4)).size).toBe(1);
  });

  it('sends new connections only to the endpoints left after a removal', async () => {
    const started = await startProxy(relay, [at(await backend('a')), at(await backend('b'))]);
    started.route([at(await backend('b'))]);
    await halfCloseRequest(started.port, 'x');
    expect(await answers(started.port, 4)).toEqual(['b', 'b', 'b', 'b']);
  });

  it('skips a refused endpoint so the client never notices', async () => {
    const { port } = await startProxy(relay, [at(await freePort()), at(await backend('alive'))]);
    for (let i = 0; i < 4; i++) expect((await halfCloseRequest(port, 'x')).toString()).toBe('alive:x');
  });

  it('closes the client at once when no endpoint is ready', async () => {
    const { port } = await startProxy(relay, []);
    expect((await halfCloseRequest(port, 'x')).length).toBe(0);
  });

  it('relays a large body byte-exact in both directions', async () => {
    const { port } = await startProxy(relay, [at(await backend('e'))]);
    const body = randomBytes(8 << 20).toString('base64');
    const reply = await halfCloseRequest(port, body);
    const hash = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
    expect(hash(reply)).toBe(hash(`e:${body}`));
  });

  it("passes the endpoint's FIN to the client and the client's later bytes to the endpoint", async () => {
    let received!: (s: string) => void;
    const late = new Promise<string>((r) => (received = r));
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('end', () => received(Buffer.concat(chunks).toString()));
      s.end('bye');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const { port } = await startProxy(relay, [at((server.address() as net.AddressInfo).port)]);
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    c.on('data', (d) => chunks.push(d));
    await new Promise((r) => c.once('end', r));
    c.end('late');
    expect(Buffer.concat(chunks).toString()).toBe('bye');
    expect(await late).toBe('late');
  });

  it('stops reading the endpoint while the client reads nothing, then delivers every byte', async () => {
    const body = randomBytes(64 << 20);
    let sender!: net.Socket;
    const server = net.createServer((s) => {
      sender = s;
      s.end(body);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const { port } = await startProxy(relay, [at((server.address() as net.AddressInfo).port)]);
    const c = net.connect({ port, host: '127.0.0.1' });
    c.pause();
    // Wait until the endpoint can send no more: what it sent is what the kernel buffers and the proxy hold.
    const sent = (): number => sender.bytesWritten - sender.writableLength;
    for (let last = -1; !sender || sent() !== last;) {
      last = sender ? sent() : -1;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(sent()).toBeLessThan(48 << 20);
    const chunks: Buffer[] = [];
    c.on('data', (d) => chunks.push(d));
    c.resume();
    await new Promise((r) => c.once('end', r));
    expect(Buffer.compare(Buffer.concat(chunks), body)).toBe(0);
  });
});

describe('NativeRelay', () => {
  it('closes established connections when it stops', async () => {
    const { port } = await startProxy('native', [at(await backend('a'))]);
    const c = net.connect({ port, host: '127.0.0.1' });
    await new Promise((r) => c.once('connect', r));
    const closed = new Promise((r) => c.once('close', r));
    c.on('error', () => {});
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await closed;
  });
});
