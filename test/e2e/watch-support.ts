import { setLogSink } from '../../src/observe/log.js';
import type { KvStore, TxnOp } from '../../src/store/kv-store.js';

/** A minimal valid stored v1 Service. */
export function serviceJson(namespace: string, name: string, port = 80): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace, name },
    spec: { ports: [{ port, targetPort: 8080 }] },
  });
}

export function endpointsJson(namespace: string, name: string, ip: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace, name },
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
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++] as TxnOp[];
        const res = await store.txn([], chunk);
        revision = Math.max(revision, res.revision);
      }
    }),
  );
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

export function podJson(namespace: string, name: string, ip: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name },
    spec: { containers: [{ name: 'app', image: 'nginx' }] },
    status: { phase: 'Running', podIP: ip },
  });
}
