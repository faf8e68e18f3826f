import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { ConfigError } from '../api/errors.js';
import { createLogger, type Logger } from '../observe/log.js';
import { loadLibc } from '../kernel/tun/libc.js';
import type { Client, DnsHandler } from './dns-handler.js';
import { bindReusePortGroup } from './reuseport-group.js';

const MAX_TCP_BACKLOG = 1 << 20;

export interface ListenAddress {
  host: string;
  port: number;
}

export interface DnsServerOptions {
  handler: DnsHandler;
  listen: ListenAddress;
  logger?: Logger;
  /** A TCP connection with nothing to say for this long is closed (default 10 s, RFC 7766's advice). */
  tcpIdleMs?: number;
  /**
   * UDP is answered by this many DNS worker threads: the server binds a
   * SO_REUSEPORT group of that many sockets for them (udpGroupFds()) instead
   * of a socket of its own, and serves TCP.
   */
  udpGroup?: number;
}

/**
 * The sockets: UDP and TCP on one address and port, every packet through
 * the handler. Nothing a client sends can stop the server: a handler
 * failure is logged and the packet dropped.
 */
export class DnsServer {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly connections = new Set<net.Socket>();
  private readonly log: Logger;
  private bound: ListenAddress | undefined;
  private groupFds: number[] = [];

  constructor(private readonly options: DnsServerOptions) {
    this.log = options.logger ?? createLogger('dns');
  }

  /** Binds both sockets (port 0: one free port for both); closes them when the signal aborts. */
  async start(signal: AbortSignal): Promise<ListenAddress> {
    const { host } = this.options.listen;
    for (let attempt = 0; ; attempt++) {
      const udp = await this.bindUdp();
      const port = udp.port;
      const tcp = net.createServer((sock) => this.serveTcp(sock));
      const ok = await new Promise<boolean>((resolve, reject) => {
        tcp.once('error', (err: NodeJS.ErrnoException) =>
          err.code === 'EADDRINUSE' && this.options.listen.port === 0 && attempt < 10 ? resolve(false) : reject(err),
        );
        tcp.listen(port, host, () => resolve(true));
      }).catch((err: unknown) => {
        udp.close();
        throw new ConfigError('--dns-listen', `cannot listen on tcp ${host}:${port}: ${String(err)}`);
      });
      if (!ok) {
        udp.close();
        continue;
      }
      this.tcp = tcp;
      this.bound = { host, port };
      break;
    }
    const bound = this.bound as ListenAddress;
    const udp = this.udp;
    if (udp) {
      udp.on('error', (err) => this.log.warn('udp socket error', { error: err.message }));
      udp.on('message', (msg, rinfo) => this.serveUdp(msg, rinfo));
    }
    signal.addEventListener('abort', () => this.stop(), { once: true });
    this.log.info('dns server listening', { address: `${host}:${bound.port}`, transports: 'udp,tcp' });
    return bound;
  }

  /** The UDP side: a dgram socket of this thread, or the SO_REUSEPORT group for the worker threads. */
  private async bindUdp(): Promise<{ port: number; close: () => void }> {
    const { host, port } = this.options.listen;
    const group = this.options.udpGroup;
    if (group !== undefined) {
      const g = bindReusePortGroup(host, port, group);
      this.groupFds = g.fds;
      return {
        port: g.port,
        close: () => {
          for (const fd of g.fds) loadLibc().close(fd);
          this.groupFds = [];
        },
      };
    }
    const udp = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
    const bound = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => resolve(udp.address().port));
    }).catch((err: unknown) => {
      throw new ConfigError('--dns-listen', `cannot bind udp ${host}:${port}: ${String(err)}`);
    });
    this.udp = udp;
    return {
      port: bound,
      close: () => {
        udp.close();
        this.udp = undefined;
      },
    };
  }

  /** The SO_REUSEPORT group's sockets (udpGroup), for the worker threads, which close them. */
  udpGroupFds(): readonly number[] {
    return this.groupFds;
  }

  address(): ListenAddress | undefined {
    return this.bound;
  }

  stop(): void {
    this.udp?.close();
    this.tcp?.close();
    for (const c of this.connections) c.destroy();
    this.udp = undefined;
    this.tcp = undefined;
  }

  private serveUdp(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    // The hot path: a synchronous answer is sent without a closure or a send callback (send errors reach 'error').
    let reply: Buffer | Promise<Buffer | undefined> | undefined;
    try {
      reply = this.options.handler.handle(msg, { address: rinfo.address, transport: 'udp' });
    } catch (err) {
      this.failed(err);
      return;
    }
    const udp = this.udp;
    if (!udp || !reply) return;
    if (reply instanceof Promise)
      reply.then(
        (r) => r && this.udp?.send(r, rinfo.port, rinfo.address),
        (err: unknown) => this.failed(err),
      );
    else udp.send(reply, rinfo.port, rinfo.address);
  }

  private serveTcp(sock: net.Socket): void {
    this.connections.add(sock);
    sock.setTimeout(this.options.tcpIdleMs ?? 10_000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.connections.delete(sock));
    const client: Client = { address: sock.remoteAddress ?? '', transport: 'tcp' };
    let pending: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + msg.length);
        this.dispatch(msg, client, (reply) => {
          if (!reply || sock.destroyed) return;
          // A client that sends without reading would make keel buffer answers without bound.
          if (sock.writableLength > MAX_TCP_BACKLOG) {
            sock.destroy();
            return;
          }
          const len = Buffer.allocUnsafe(2);
          len.writeUInt16BE(reply.length);
          sock.write(Buffer.concat([len, reply]));
        });
      }
    });
  }

  private dispatch(msg: Buffer, client: Client, send: (reply: Buffer | undefined) => void): void {
    try {
      const reply = this.options.handler.handle(msg, client);
      if (reply instanceof Promise) reply.then(send, (err: unknown) => this.failed(err));
      else send(reply);
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    this.log.error('query handling failed', { error: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * One address per family on a dual-stack node, comma-separated
 * (`10.0.0.1:53,[fd00::1]:53`): CoreDNS binds every address it is given,
 * so does keel (`[::]` alone also takes IPv4, as Linux maps it).
 */
export function parseListenList(text: string): ListenAddress[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseListen);
}

/** `127.0.0.1:53`, `[::1]:53`, `0.0.0.0` (port 53). */
function parseListen(text: string): ListenAddress {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  const host = m?.[1];
  const port = Number(m?.[2] ?? 53);
  if (!host || !net.isIP(host) || !Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError('--dns-listen', `${JSON.stringify(text)} is not an address[:port]`);
  return { host, port };
}
