import { parentPort, workerData } from 'node:worker_threads';
import { registry } from '../observe/metrics.js';
import { DnsHandler } from './dns-handler.js';
import { Forwarder } from './forward.js';
import { recursionPolicy } from './recursion-policy.js';
import { DnsServer } from './server.js';
import type { DnsWorkerData, ToWorker } from './dns-workers.js';

/**
 * One DNS worker thread: the same handler as the agent's (records,
 * forwarding, recursion policy) on dups of the agent's UDP sockets, fed
 * every snapshot delivery by the agent; its DNS metrics go back on request.
 */
const d = workerData as DnsWorkerData;
const port = parentPort;
if (!port) throw new Error('dns-worker runs as a worker thread');
const forwarder = d.upstreams.length
  ? new Forwarder({ upstreams: d.upstreams, ...(d.forwardTimeoutMs === undefined ? {} : { timeoutMs: d.forwardTimeoutMs }) })
  : undefined;
const handler = new DnsHandler({
  config: d.config,
  recursionAllowed: recursionPolicy(d.recursion.clusterCidrs, d.recursion.nodeAddresses),
  ...(forwarder ? { forwarder } : {}),
});
const ac = new AbortController();
for (const s of d.sockets) await new DnsServer({ handler, listen: s.listen, udpFd: s.fd }).start(ac.signal);
port.on('message', (m: ToWorker) => {
  if (m.kind === 'update') handler.update(m.snap, m.changed);
  else if (m.kind === 'metrics')
    void registry.getMetricsAsJSON().then((all) => port.postMessage({ id: m.id, metrics: all.filter((x) => m.names.includes(x.name)) }));
  else {
    ac.abort();
    port.close();
  }
});
