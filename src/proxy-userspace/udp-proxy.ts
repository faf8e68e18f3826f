import dgram from 'node:dgram';
import type { Logger } from '../observe/log.js';
import { PortCounters, proxyMetrics } from './proxy-metrics.js';
import type { PortalName } from './service-portals.js';
import type { EndpointPicker } from './tcp-proxy.js';

/** The legacy proxier's default `--udp-timeout`. */
export const DEFAULT_UDP_TIMEOUT_MS = 250;

export interface UdpProxyOptions {
  readonly name: PortalName;
  readonly pick: EndpointPicker;
  readonly logger: Logger;
  /** Idle time after which a client's association (and its endpoint socket) is dropped. */
  readonly timeoutMs: number;
}

interface Association {
  readonly socket: dgram.Socket;
  readonly host: string;
  readonly port: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * One socket for one UDP service port. Each client address gets its own
 * socket towards the endpoint chosen for it, so replies find their way back
 * and a client keeps its endpoint while it keeps talking; traffic in either
 * direction keeps the association alive until `timeoutMs` of silence.
 */
export class UdpProxy {
  private socket: dgram.Socket | undefined;
  private readonly clients = new Map<string, Association>();
  private readonly counters: PortCounters;

  constructor(private readonly opts: UdpProxyOptions) {
    this.counters = new PortCounters(opts.name, 'UDP');
  }

  listen(port: number, host = '0.0.0.0'): Promise<number> {
    const socket = dgram.createSocket({ type: 'udp4' });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port, address: host }, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.opts.logger.warn('socket error', { service_port: this.opts.name, error: err.message }));
        socket.on('message', (msg, from) => this.fromClient(msg, from));
        resolve(socket.address().port);
      });
    });
  }

  get port(): number | undefined {
    return this.socket?.address().port;
  }

  get activeAssociations(): number {
    return this.clients.size;
  }

  close(): Promise<void> {
    for (const key of [...this.clients.keys()]) this.drop(key);
    this.counters.forget();
    const socket = this.socket;
    this.socket = undefined;
    return new Promise((resolve) => (socket ? socket.close(() => resolve()) : resolve()));
  }

  private fromClient(msg: Buffer, from: dgram.RemoteInfo): void {
    const key = `${from.address}:${from.port}`;
    const assoc = this.clients.get(key) ?? this.associate(key, from);
    if (!assoc) return;
    assoc.timer.refresh();
    this.counters.bytesIn += msg.length;
    assoc.socket.send(msg, assoc.port, assoc.host);
  }

  private associate(key: string, from: dgram.RemoteInfo): Association | undefined {
    const endpoint = this.opts.pick(() => from.address, false);
    if (endpoint === undefined) {
      proxyMetrics.dialFailures.inc({ ...this.counters.labels, reason: 'no-endpoints' });
      return undefined;
    }
    const colon = endpoint.lastIndexOf(':');
    const host = endpoint.slice(0, colon);
    const port = Number(endpoint.slice(colon + 1));
    const upstream = dgram.createSocket({ type: 'udp4' });
    upstream.on('error', (err) => {
      this.opts.logger.debug('endpoint socket error', { service_port: this.opts.name, endpoint, error: err.message });
      proxyMetrics.dialFailures.inc({ ...this.counters.labels, reason: 'error' });
      this.drop(key);
    });
    upstream.on('message', (reply, src) => {
      const a = this.clients.get(key);
      if (!a || !this.socket || src.port !== port || src.address !== host) return;
      a.timer.refresh();
      this.counters.bytesOut += reply.length;
      this.socket.send(reply, from.port, from.address);
    });
    const timer = setTimeout(() => this.drop(key), this.opts.timeoutMs);
    const assoc = { socket: upstream, host, port, timer };
    this.clients.set(key, assoc);
    this.counters.connections++;
    this.counters.active++;
    return assoc;
  }

  private drop(key: string): void {
    const a = this.clients.get(key);
    if (!a) return;
    this.clients.delete(key);
    clearTimeout(a.timer);
    a.socket.close();
    this.counters.active--;
  }
}
