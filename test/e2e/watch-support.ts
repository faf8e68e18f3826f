import { createServer, connect, type Server, type Socket } from 'node:net';
import { setLogSink } from '../../src/observe/log.js';
import type { KvStore, TxnOp } from '../../src/store/kv-store.js';
import { freePort } from '../../src/store/etcd-server.js';

/** A minimal valid stored v1 Service. */
export function serviceJson(namespace: string, name: string, port = 80): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec: { ports: [{ port, targetPort: 8080 }] } });
}

export function endpointsJson(namespace: string, name: string, ip: string): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Endpoints', metadata: { namespace, name },
    subsets: [{ addresses: [{ ip }], ports: [{ port: 8080 }] }],
  });
}

/**
 * Applies ops in transactions of `batch` with `parallel` in flight (etcd
 * takes 100 puts per txn in ~5 ms; single puts would take minutes). Ops
 * in one call must touch distinct keys, since their order is not kept.
 * Returns the highest revision written.
 */
export async function writeBatched(store: KvStore, ops: readonly TxnOp[], batch = 100, parallel = 8): Promise<number> {
  const chunks: TxnOp[][] = [];
  for (let i = 0; i < ops.length; i += batch) chunks.push(ops.slice(i, i + batch));
  let revision = 0;
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++] as TxnOp[];
      const res = await store.txn([], chunk);
      revision = Math.max(revision, res.revision);
    }
  }));
  return revision;
}

/** Polls until `cond` holds; fails with `what` after `timeoutMs` (a deadline for a hang, not a timing assertion). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Captures structured log lines for the duration of a test file. */
export function captureLogs(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  setLogSink({ write: (line) => lines.push(line) });
  return { lines, restore: () => setLogSink({ write: (line) => process.stderr.write(`${line}\n`) }) };
}

/**
 * A loopback TCP relay in front of etcd that a test can cut (existing
 * connections reset, new ones refused) and restore on the same port: a
 * network partition for one client while others keep writing.
 */
export class TcpCutter {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly frozen = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    this.port ||= await freePort();
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /**
   * Stops forwarding on the open connections without closing them, as a
   * dead peer or a dropped route does; new connections work.
   */
  freeze(): void {
    for (const s of this.sockets) {
      s.unpipe();
      s.pause();
      this.frozen.add(s);
    }
    this.sockets.clear();
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of [...this.sockets, ...this.frozen]) s.resetAndDestroy();
    this.sockets.clear();
    this.frozen.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export function podJson(namespace: string, name: string, ip: string): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { namespace, name },
    spec: { containers: [{ name: 'app', image: 'nginx' }] },
    status: { phase: 'Running', podIP: ip },
  });
}
