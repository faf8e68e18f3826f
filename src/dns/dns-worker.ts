import { parentPort, workerData } from 'node:worker_threads';
import { loadLibc } from '../kernel/tun/libc.js';
import { createLogger } from '../observe/log.js';
import { registry } from '../observe/metrics.js';
import { DnsHandler } from './dns-handler.js';
import type { DnsWorkerData, FromWorker, ToWorker } from './dns-workers.js';
import { recursionPolicy } from './recursion-policy.js';
import { SnapshotReplica } from './snapshot-delta.js';
import { UdpBatchServer } from './udp-batch-server.js';

/**
 * One DNS worker thread: the agent's handler rebuilt here (records from
 * snapshot deltas, the recursion policy) answering its own SO_REUSEPORT
 * sockets in batches. The loop blocks in poll() on the sockets and an
 * eventfd the agent writes after each message; it then yields to this
 * thread's event loop, which delivers the message. Forwarded questions go
 * to the agent's Forwarder by message, since the loop leaves no room for
 * this thread's own sockets and timers.
 */
const d = workerData as DnsWorkerData;
const libc = loadLibc();
const port = parentPort;
if (!port) throw new Error('dns-worker runs as a worker thread');
const log = createLogger('dns');
const waiting = new Map<number, (reply: Buffer | undefined) => void>();
let nextId = 0;
const handler = new DnsHandler({
  config: d.config,
  recursionAllowed: recursionPolicy(d.recursion.clusterCidrs, d.recursion.nodeAddresses),
  logger: log,
  reportRejections: false,
  ...(d.forwarding
    ? {
        forwarder: {
          forward: (query: Buffer, questionEnd: number, tcp: boolean) =>
            new Promise<Buffer | undefined>((resolve) => {
              const id = nextId++;
              waiting.set(id, resolve);
              port.postMessage({ kind: 'forward', id, query, questionEnd, tcp } satisfies FromWorker);
            }),
        },
      }
    : {}),
});
const replica = new SnapshotReplica();
const failed = (err: unknown): void => log.error('query handling failed', { error: err instanceof Error ? err.message : String(err) });
const servers = d.fds.map((fd) => new UdpBatchServer(fd, handler, failed));
let stopped = false;
/** Messages this thread's event loop has delivered; the agent counts those it posted in wakeSeq. */
let delivered = 0;

port.on('message', (m: ToWorker) => {
  delivered++;
  if (m.kind === 'update') {
    const { snap, changed } = replica.apply(m.delta);
    const first = !handler.hasSynced();
    handler.update(snap, changed);
    if (first) port.postMessage({ kind: 'synced' } satisfies FromWorker);
  } else if (m.kind === 'forwarded') {
    waiting.get(m.id)?.(m.reply && Buffer.from(m.reply.buffer, m.reply.byteOffset, m.reply.length));
    waiting.delete(m.id);
  } else if (m.kind === 'metrics')
    void registry
      .getMetricsAsJSON()
      .then((all) => port.postMessage({ kind: 'metrics', id: m.id, metrics: all.filter((x) => m.names.includes(x.name)) }));
  else stopped = true;
});

const seq = new Int32Array(d.wakeSeq);
// pollfd: the sockets, then the eventfd.
const pfds = Buffer.alloc(8 * (d.fds.length + 1));
[...d.fds, d.wakeFd].forEach((fd, i) => {
  pfds.writeInt32LE(fd, i * 8);
  pfds.writeInt16LE(1, i * 8 + 4);
});
const counter = Buffer.alloc(8);
while (!stopped) {
  let full = false;
  for (const s of servers) if (s.serveBatch() === 64) full = true;
  // A full batch: more may be waiting, read again at once; otherwise sleep until a socket or the agent has something.
  if (!full) {
    libc.poll(pfds, d.fds.length + 1, 1000);
    if (pfds.readInt16LE(d.fds.length * 8 + 6) & 1) libc.read(d.wakeFd, counter, 8);
  }
  // The agent posted something (its count moves before the eventfd is written): let the event loop deliver it.
  // One turn is not always enough (a message that lands after the turn's poll phase waits for the next), and
  // the eventfd was already read: yielding once would leave it, a stop included, undelivered until the next post.
  while (Atomics.load(seq, 0) !== delivered) await new Promise((resolve) => setImmediate(resolve));
}
// The eventfd is the agent's to close, once this thread has exited.
for (const fd of d.fds) libc.close(fd);
port.close();
