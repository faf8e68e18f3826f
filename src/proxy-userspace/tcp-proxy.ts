import net from 'node:net';
import type { Logger } from '../observe/log.js';
import { PortCounters, proxyMetrics, type DialFailureReason } from './proxy-metrics.js';
import type { PortalName } from './service-portals.js';

/** Chooses the endpoint ("ip:port") for a client; `retry` after a failed dial. */
export type EndpointPicker = (clientIP: string, retry: boolean) => string | undefined;

/** kube-proxy's EndpointDialTimeouts: one attempt per entry, so a client waits at most their sum. */
const DIAL_TIMEOUTS_MS: readonly number[] = [250, 500, 1000, 2000];

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
 * paused until an endpoint answers, then both directions are piped: pipe
 * stops reading from one side while the other's send buffer is full (no
 * unbounded buffering), and a FIN in one direction is passed on as a
 * shutdown of the other side's write half, so half-closed clients still get
 * their whole reply.
 *
 * Endpoint to client, the bulk of the bytes, goes without pipe(): reads
 * from every endpoint land in one reused buffer (see toClient) instead of
 * a fresh 64 KB allocation per read.
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
    const clientIP = client.remoteAddress ?? '';
    let backend: net.Socket | undefined;
    // Only errors tear the other side down: a normal close may still have
    // bytes queued on the other socket, which end() (via pipe) flushes first.
    client.on('error', () => backend?.destroy());
    client.once('close', () => this.release(client));
    const onread = {
      buffer: () => this.readBuffer,
      callback: (n: number, buf: Uint8Array): boolean => (backend ? this.toClient(backend, client, buf.subarray(0, n)) : false),
    };
    void this.dial(clientIP, onread, () => client.destroyed).then((b) => {
      if (!b) {
        client.destroy();
        return;
      }
      if (client.destroyed) {
        b.destroy();
        return;
      }
      backend = b;
      b.on('error', () => client.destroy());
      b.on('end', () => client.end());
      client.pipe(b);
      client.resume();
    });
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

  /** Tries endpoints with growing timeouts; a refused or silent endpoint costs one attempt, not the client. */
  private async dial(clientIP: string, onread: net.OnReadOpts, gaveUp: () => boolean): Promise<net.Socket | undefined> {
    const timeouts = this.opts.dialTimeoutsMs ?? DIAL_TIMEOUTS_MS;
    for (const [i, timeoutMs] of timeouts.entries()) {
      if (gaveUp()) return undefined;
      const endpoint = this.opts.pick(clientIP, i > 0);
      if (endpoint === undefined) {
        this.failed('no-endpoints');
        return undefined;
      }
      const result = await connect(endpoint, timeoutMs, onread);
      if (result instanceof net.Socket) return result;
      this.failed(result.reason);
      this.opts.logger.debug('endpoint dial failed', {
        service_port: this.opts.name,
        endpoint,
        reason: result.reason,
        error: result.message,
      });
    }
    return undefined;
  }

  private failed(reason: DialFailureReason): void {
    proxyMetrics.dialFailures.inc({ ...this.counters.labels, reason });
  }
}

function connect(
  endpoint: string,
  timeoutMs: number,
  onread: net.OnReadOpts,
): Promise<net.Socket | { reason: DialFailureReason; message: string }> {
  const colon = endpoint.lastIndexOf(':');
  const socket = net.connect({
    host: endpoint.slice(0, colon),
    port: Number(endpoint.slice(colon + 1)),
    allowHalfOpen: true,
    noDelay: true,
    onread,
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reason: 'timeout', message: `no answer within ${timeoutMs}ms` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ reason: err.code === 'ECONNREFUSED' ? 'refused' : 'error', message: err.message });
    });
  });
}
