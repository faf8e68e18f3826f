import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { ConfigError } from '../api/errors.js';
import { dnsForwarded } from './dns-metrics.js';

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwarderOptions {
  upstreams: readonly Upstream[];
  /** Per-attempt timeout (default 2000 ms); each upstream is tried once per query, the last good one first. */
  timeoutMs?: number;
}

/** What the DNS handler asks upstream through: a Forwarder, or (in a DNS worker thread) the agent's Forwarder by message. */
export interface Forwarding {
  /** The upstream's response with the client's ID, or undefined when every upstream failed. */
  forward(query: Buffer, questionEnd: number, tcp: boolean): Promise<Buffer | undefined>;
}

/**
 * Sends questions outside keel's zones to upstream resolvers. Each attempt
 * uses a fresh socket and a fresh random ID (so a spoofed reply must guess
 * both), accepts only a reply with that ID and the same question, then
 * restores the client's ID. UDP queries go upstream over UDP, TCP over TCP.
 */
export class Forwarder implements Forwarding {
  private preferred = 0;
  private readonly timeoutMs: number;

  constructor(private readonly options: ForwarderOptions) {
    if (options.upstreams.length === 0) throw new ConfigError('dns', 'no upstream resolvers to forward to');
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  get upstreams(): readonly Upstream[] {
    return this.options.upstreams;
  }

  /** The upstream's response with the client's ID, or undefined when every upstream failed. */
  async forward(query: Buffer, questionEnd: number, tcp: boolean): Promise<Buffer | undefined> {
    const list = this.options.upstreams;
    for (let i = 0; i < list.length; i++) {
      const idx = (this.preferred + i) % list.length;
      const up = list[idx] as Upstream;
      const label = `${up.host}:${up.port}`;
      const id = randomInt(0, 65_536);
      const out = Buffer.from(query);
      out.writeUInt16BE(id, 0);
      try {
        const reply = await (tcp
          ? exchangeTcp(up, out, this.timeoutMs)
          : exchangeUdp(up, out, this.timeoutMs, (r) => matches(r, out, questionEnd)));
        if (!matches(reply, out, questionEnd)) throw new Error('reply does not match the question');
        reply.writeUInt16BE(query.readUInt16BE(0), 0);
        this.preferred = idx;
        dnsForwarded.inc({ upstream: label, result: 'ok' });
        return reply;
      } catch (err) {
        dnsForwarded.inc({ upstream: label, result: err instanceof TimeoutError ? 'timeout' : 'error' });
      }
    }
    return undefined;
  }
}

class TimeoutError extends Error {}

function matches(reply: Buffer, sent: Buffer, questionEnd: number): boolean {
  if (reply.length < questionEnd || reply.readUInt16BE(0) !== sent.readUInt16BE(0) || (reply[2]! & 0x80) === 0) return false;
  return (
    reply.subarray(12, questionEnd).toString('latin1').toLowerCase() === sent.subarray(12, questionEnd).toString('latin1').toLowerCase()
  );
}

function exchangeUdp(up: Upstream, msg: Buffer, timeoutMs: number, accept: (r: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(isIPv6(up.host) ? 'udp6' : 'udp4');
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      sock.close();
      fn();
    };
    const timer = setTimeout(() => done(() => reject(new TimeoutError(`${up.host}:${up.port} timed out`))), timeoutMs);
    sock.on('error', (err) => done(() => reject(err)));
    // Stray datagrams (late or spoofed replies) are ignored; only the timer ends the wait.
    sock.on('message', (reply, rinfo) => {
      if (rinfo.port === up.port && accept(reply)) done(() => resolve(reply));
    });
    sock.send(msg, up.port, up.host);
  });
}

function exchangeTcp(up: Upstream, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: up.host, port: up.port });
    let buf = Buffer.alloc(0);
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    const timer = setTimeout(() => done(() => reject(new TimeoutError(`${up.host}:${up.port} timed out`))), timeoutMs);
    sock.on('error', (err) => done(() => reject(err)));
    sock.on('connect', () => {
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(msg.length);
      sock.write(Buffer.concat([len, msg]));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(() => resolve(buf.subarray(2, 2 + buf.readUInt16BE(0))));
    });
    sock.on('end', () => done(() => reject(new Error(`${up.host}:${up.port} closed the connection`))));
  });
}

/** `1.1.1.1`, `1.1.1.1:5353`, `[fd00::1]:53`, comma-separated. */
export function parseUpstreams(text: string): Upstream[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s) ?? (isIPv6(s) ? [s, s] : null);
      const host = m?.[1];
      const port = Number(m?.[2] ?? 53);
      if (!host || !net.isIP(host) || !Number.isInteger(port) || port < 1 || port > 65_535)
        throw new ConfigError('--upstream', `${JSON.stringify(s)} is not an address[:port]`);
      return { host, port };
    });
}

/** The node's own resolvers: the nameserver lines of resolv.conf. */
export function upstreamsFromResolvConf(path = '/etc/resolv.conf'): Upstream[] {
  const text = readFileSync(path, 'utf8');
  return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)]
    .map((m) => m[1] as string)
    .filter((h) => net.isIP(h))
    .map((host) => ({ host, port: 53 }));
}
