import { Worker } from 'node:worker_threads';
import { AF_INET } from '../kernel/address-family.js';
import { SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, loadLibc, sockaddrIn } from '../kernel/tun/libc.js';
import type { Logger } from '../observe/log.js';
import { COUNTER, COUNTERS, type RelayMessage, type RelayWorkerData } from './native-relay-protocol.js';
import { PortCounters, proxyMetrics, type DialFailureReason } from './proxy-metrics.js';
import type { PortalName } from './service-portals.js';
import { DIAL_TIMEOUTS_MS } from './tcp-proxy.js';

const SO_REUSEADDR = 2;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const ERRNO_CODES: Readonly<Record<number, string>> = { 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 13: 'EACCES' };
/** The eventfd increment: 1 as a native-endian uint64. */
const ONE = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
const FAILURES: readonly [DialFailureReason, number][] = [
  ['refused', COUNTER.refused],
  ['timeout', COUNTER.timeout],
  ['error', COUNTER.error],
  ['no-endpoints', COUNTER.noEndpoints],
];

export interface NativeRelayOptions {
  readonly logger: Logger;
  /** The worker's entry; tests that run from source pass a bundled one. */
  readonly workerUrl?: URL;
}

/**
 * `--userspace-relay native`: one thread that accepts, dials and relays
 * every TCP service port's connections (native-relay-worker.ts), where the
 * node relay spends two net.Socket objects per connection and Node.js
 * stream callbacks per chunk. Endpoint choice stays RoundRobin's: the
 * thread holds its own, fed every service port's endpoints by route().
 */
export class NativeRelay {
  private worker: Worker | undefined;
  private wakeFd = -1;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: NativeRelayOptions) {}

  /** Sets a service port's endpoints and affinity, as RoundRobin.update. */
  route(name: PortalName, endpoints: readonly string[], affinitySeconds: number | undefined): void {
    this.post({ kind: 'route', name, endpoints, affinitySeconds });
  }

  unroute(name: PortalName): void {
    if (this.worker) this.post({ kind: 'unroute', name });
  }

  /** Closes every listener and connection and ends the thread. */
  async stop(): Promise<void> {
    if (!this.worker) return;
    this.post({ kind: 'stop' });
    this.worker = undefined;
    await this.exited;
  }

  /** @internal for NativeTcpProxy */
  post(m: RelayMessage): void {
    this.worker ??= this.start();
    this.worker.postMessage(m);
    loadLibc().write(this.wakeFd, ONE, 8);
  }

  private start(): Worker {
    const libc = loadLibc();
    const wakeFd = libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number;
    if (wakeFd < 0) throw new Error(`eventfd: errno ${libc.errno()}`);
    this.wakeFd = wakeFd;
    const data: RelayWorkerData = { wakeFd };
    const worker = new Worker(this.opts.workerUrl ?? new URL('./native-relay-worker.js', import.meta.url), { workerData: data });
    worker.on('error', (err) => this.opts.logger.error('native relay failed', { error: err.message }));
    this.exited = new Promise((resolve) =>
      worker.once('exit', () => {
        libc.close(wakeFd);
        resolve();
      }),
    );
    return worker;
  }
}

export interface NativeTcpProxyOptions {
  readonly name: PortalName;
  readonly relay: NativeRelay;
  readonly dialTimeoutsMs?: readonly number[];
}

/** One TCP service port's listener, served by the NativeRelay's thread; the same surface as TcpProxy. */
export class NativeTcpProxy {
  private fd = -1;
  private bound: number | undefined;
  private closed = false;
  private readonly shared = new SharedArrayBuffer(COUNTERS * 8);
  private readonly totals = new Float64Array(this.shared);
  private readonly seen = new Float64Array(COUNTERS);
  private readonly counters: PortCounters;

  constructor(private readonly opts: NativeTcpProxyOptions) {
    this.counters = new PortCounters(opts.name, 'TCP');
    this.counters.sync = () => this.sync();
  }

  /** Listens on host:port (0: any free port) and resolves with the bound port; errors carry the errno's code (EADDRINUSE). */
  listen(port: number, host = '0.0.0.0'): Promise<number> {
    const libc = loadLibc();
    const fd = libc.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
    if (fd < 0) return Promise.reject(errnoError('socket', libc.errno()));
    const ip = host.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
    const sa = sockaddrIn(ip, port);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(16, 0);
    if (
      (libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, ONE.subarray(0, 4), 4) as number) < 0 ||
      (libc.bind(fd, sa, 16) as number) < 0 ||
      (libc.listen(fd, 4096) as number) < 0 ||
      (libc.getsockname(fd, sa, len) as number) < 0
    ) {
      const e = libc.errno();
      libc.close(fd);
      return Promise.reject(errnoError(`listen ${host}:${port}`, e));
    }
    this.fd = fd;
    this.bound = sa.readUInt16BE(2);
    this.opts.relay.post({
      kind: 'listen',
      fd,
      name: this.opts.name,
      counters: this.shared,
      dialTimeoutsMs: this.opts.dialTimeoutsMs ?? DIAL_TIMEOUTS_MS,
    });
    return Promise.resolve(this.bound);
  }

  get port(): number | undefined {
    return this.closed ? undefined : this.bound;
  }

  get activeConnections(): number {
    return this.totals[COUNTER.active] ?? 0;
  }

  /** Stops accepting; established connections run to their end (or to the relay's stop). */
  close(): Promise<void> {
    if (!this.closed && this.fd >= 0) this.opts.relay.post({ kind: 'unlisten', fd: this.fd });
    this.closed = true;
    if (this.activeConnections === 0) this.counters.forget();
    return Promise.resolve();
  }

  /** Moves what the relay's thread counted since the last scrape into the port's counters. */
  private sync(): void {
    const c = this.counters;
    const delta = (i: number): number => {
      const now = this.totals[i] ?? 0;
      const d = now - (this.seen[i] ?? 0);
      this.seen[i] = now;
      return d;
    };
    c.connections += delta(COUNTER.connections);
    c.bytesIn += delta(COUNTER.bytesIn);
    c.bytesOut += delta(COUNTER.bytesOut);
    c.active = this.activeConnections;
    for (const [reason, i] of FAILURES) {
      const n = delta(i);
      if (n > 0) proxyMetrics.dialFailures.inc({ ...c.labels, reason }, n);
    }
    if (this.closed && c.active === 0) c.forget();
  }
}

function errnoError(what: string, errno: number): NodeJS.ErrnoException {
  const code = ERRNO_CODES[errno] ?? `errno ${errno}`;
  return Object.assign(new Error(`${what}: ${code}`), { code, errno });
}
