import net from 'node:net';
import type { Logger } from '../observe/log.js';
import { PortCounters, proxyMetrics, type DialFailureReason } from './proxy-metrics.js';
import type { PortalName } from './service-portals.js';

/**
 * Chooses the endpoint ("ip:port") for a client; `retry` after a failed
 * dial. The client's IP is asked for only when needed (ClientIP affinity).
 */
export type EndpointPicker = (clientIP: () => string, retry: boolean) => string | undefined;

/** kube-proxy's EndpointDialTimeouts: one attempt per entry, so a client waits at most their sum. */
export const DIAL_TIMEOUTS_MS: readonly number[] = [250, 500, 1000, 2000];

/** libuv's suggested read size. */
const READ_BUFFER_BYTES = 64 * 1024;

export interface TcpProxyOptions {
  readonly name: PortalName;
  readonly pick: EndpointPicker;
  readonly logger: Logger;
  readonly dialTimeoutsMs?: readonly number[];
}

/**
 * One listener for one TCP service port. Each accepted connection is held
 * paused until an endpoint answers, then both directions are relayed: the
 * proxy stops reading from one side while the other's send buffer is full
 * (no unbounded buffering), and a FIN in one direction is passed on as a
 * shutdown of the other side's write half, so half-closed clients still get
 * their whole reply.
 *
 * Both directions go without pipe(). Endpoint to client, the bulk of the
 * bytes: reads from every endpoint land in one reused buffer (see
 * toClient) instead of a fresh 64 KB allocation per read.
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private closed = false;
  private readonly counters: PortCounters;
  /** Free whenever no write holds it: JavaScript runs one read callback at a time. */
  private readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

  constructor(private readonly opts: TcpProxyOptions) {
    this.counters = new PortCounters(opts.name, 'TCP');
  }

  /** Listens on host:port (0: any free port) and resolves with the bound port. */
  listen(port: number, host = '0.0.0.0'): Promise<number> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (c) => this.accept(c));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, backlog: 4096 }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.opts.logger.warn('listener error', { service_port: this.opts.name, error: err.message }));
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  get activeConnections(): number {
    return this.counters.active;
  }

  /** Stops accepting; established connections run to their end. */
  close(): Promise<void> {
    this.closed = true;
    const server = this.server;
    if (this.counters.active === 0) this.counters.forget();
    if (!server?.listening) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      // close() waits for established connections; the listening socket itself is gone at once.
      setImmediate(resolve);
    });
  }

  private accept(client: net.Socket): void {
    this.counters.connections++;
    this.counters.active++;
    let backend: net.Socket | undefined;
    // Only errors tear the other side down: a normal close may still have
    // bytes queued on the other socket, which end() flushes first.
    client.on('error', () => backend?.destroy());
    client.once('close', () => this.release(client));
    const onread = {
      buffer: () => this.readBuffer,
      callback: (n: number, buf: Uint8Array): boolean => (backend ? this.toClient(backend, client, buf.subarray(0, n)) : false),
    };
    this.dial(client, onread, 0, (b) => {
      backend = b;
      b.on('error', () => client.destroy());
      b.on('end', () => client.end());
      this.toEndpoint(client, b);
    });
  }

  /**
   * Client to endpoint, without pipe(): the same backpressure (stop reading
   * the client while the endpoint's send buffer is full) and FIN passing,
   * with three listeners instead of pipe's eight per connection.
   */
  private toEndpoint(client: net.Socket, backend: net.Socket): void {
    client.on('data', (chunk: Buffer) => {
      if (!backend.write(chunk)) client.pause();
    });
    backend.on('drain', () => client.resume());
    client.on('end', () => backend.end());
    client.resume();
  }

  /**
   * One read from the endpoint. A chunk written while nothing is queued
   * usually leaves at once (the kernel takes it), and the buffer is free for
   * the next read; only when the write stays pending does the buffer go
   * with it and the proxy take a new one. A chunk that would queue behind
   * earlier data is copied. Returning false stops reading until the client drains.
   */
  private toClient(backend: net.Socket, client: net.Socket, chunk: Uint8Array): boolean {
    if (client.destroyed) {
      backend.destroy();
      return false;
    }
    const queued = client.writableLength > 0;
    const ok = client.write(queued ? Buffer.from(chunk) : chunk);
    if (!queued && client.writableLength > 0) this.readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    if (ok) return true;
    client.once('drain', () => backend.resume());
    return false;
  }

  private release(client: net.Socket): void {
    const c = this.counters;
    c.active--;
    c.bytesIn += client.bytesRead;
    c.bytesOut += client.bytesWritten;
    if (this.closed && c.active === 0) c.forget();
  }

  /**
   * Dial attempt `attempt`: endpoints are tried with growing timeouts, so a
   * refused or silent endpoint costs one attempt, not the client. Callbacks,
   * not promises: this runs once per connection.
   */
  private dial(client: net.Socket, onread: net.OnReadOpts, attempt: number, connected: (backend: net.Socket) => void): void {
    const timeoutMs = (this.opts.dialTimeoutsMs ?? DIAL_TIMEOUTS_MS)[attempt];
    if (client.destroyed) return;
    if (timeoutMs === undefined) {
      client.destroy();
      return;
    }
    // The client's address is read (getpeername) only when affinity asks for it.
    const endpoint = this.opts.pick(() => client.remoteAddress ?? '', attempt > 0);
    if (endpoint === undefined) {
      this.failed('no-endpoints');
      client.destroy();
      return;
    }
    const colon = endpoint.lastIndexOf(':');
    const socket = net.connect({
      host: endpoint.slice(0, colon),
      port: Number(endpoint.slice(colon + 1)),
      allowHalfOpen: true,
      noDelay: true,
      onread,
    });
    const fail = (reason: DialFailureReason, message: string): void => {
      clearTimeout(timer);
      socket.destroy();
      this.failed(reason);
      this.opts.logger.debug('endpoint dial failed', { service_port: this.opts.name, endpoint, reason, error: message });
      this.dial(client, onread, attempt + 1, connected);
    };
    const timer = setTimeout(() => {
      socket.off('error', onError);
      fail('timeout', `no answer within ${timeoutMs}ms`);
    }, timeoutMs);
    const onError = (err: NodeJS.ErrnoException): void => fail(err.code === 'ECONNREFUSED' ? 'refused' : 'error', err.message);
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      if (client.destroyed) socket.destroy();
      else connected(socket);
    });
  }

  private failed(reason: DialFailureReason): void {
    proxyMetrics.dialFailures.inc({ ...this.counters.labels, reason });
  }
}
