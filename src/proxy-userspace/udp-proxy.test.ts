import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../observe/log.js';
import { RoundRobin } from './round-robin.js';
import { UdpProxy } from './udp-proxy.js';

/* Loopback only: echo endpoints and the proxy on 127.0.0.1, free ports chosen by the kernel. */
const logger = createLogger('test');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echo(name: string): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(`${name}:${m.toString()}`, r.port, r.address));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return s.address().port;
}

async function startProxy(timeoutMs: number): Promise<{ proxy: UdpProxy; port: number }> {
  const rr = new RoundRobin();
  rr.update('ns/dns:dns', [`127.0.0.1:${await echo('a')}`, `127.0.0.1:${await echo('b')}`], undefined);
  const proxy = new UdpProxy({ name: 'ns/dns:dns', logger, timeoutMs, pick: (ip, retry) => rr.next('ns/dns:dns', ip, retry) });
  const port = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => proxy.close());
  return { proxy, port };
}

function client(): dgram.Socket {
  const c = dgram.createSocket('udp4');
  cleanups.push(() => {
    c.close();
  });
  return c;
}

function ask(c: dgram.Socket, port: number, text: string): Promise<string> {
  const reply = new Promise<string>((r) => c.once('message', (m) => r(m.toString())));
  c.send(text, port, '127.0.0.1');
  return reply;
}

describe('UdpProxy', () => {
  it('keeps a client on one endpoint while it talks and relays replies back', async () => {
    const { proxy, port } = await startProxy(60_000);
    const c1 = client();
    const c2 = client();
    const first = await ask(c1, port, 'q1');
    expect(await ask(c1, port, 'q2')).toBe(`${first.split(':')[0]}:q2`);
    const other = await ask(c2, port, 'q3');
    expect(other.split(':')[0]).not.toBe(first.split(':')[0]);
    expect(proxy.activeAssociations).toBe(2);
  });

  it('drops an idle association after the timeout; the client then starts a new one', async () => {
    const { proxy, port } = await startProxy(20);
    const c = client();
    const first = (await ask(c, port, 'q1')).split(':')[0];
    while (proxy.activeAssociations > 0) await new Promise((r) => setTimeout(r, 10));
    const second = (await ask(c, port, 'q2')).split(':')[0];
    expect(second).not.toBe(first); // a new association takes the next endpoint
    expect(proxy.activeAssociations).toBe(1);
  });
});
