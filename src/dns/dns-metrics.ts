import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../observe/metrics.js';

/** CoreDNS's figures under keel's names: requests by type and rcode, latency, forwarding, cache. */
const dnsRequests = new Counter({
  name: 'keel_dns_requests_total',
  help: 'DNS responses sent, by query type and response code',
  labelNames: ['type', 'rcode', 'transport'] as const,
  registers: [registry],
  collect: () => flushRequests(),
});

const dnsDuration = new Histogram({
  name: 'keel_dns_request_duration_seconds',
  help: 'Time from a query arriving to its response being handed to the socket (local answers: one in 8 timed)',
  labelNames: ['source'] as const,
  buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 4],
  registers: [registry],
});

export const dnsForwarded = new Counter({
  name: 'keel_dns_forward_requests_total',
  help: 'Queries forwarded to an upstream resolver, by upstream and outcome',
  labelNames: ['upstream', 'result'] as const,
  registers: [registry],
});

export const dnsCacheEntries = new Gauge({
  name: 'keel_dns_cache_entries',
  help: 'Encoded responses held in the answer cache (emptied on every snapshot)',
  registers: [registry],
});

export const dnsRecordNames = new Gauge({
  name: 'keel_dns_record_names',
  help: 'Names in the record index built from the last snapshot',
  registers: [registry],
});

export const dnsDropped = new Counter({
  name: 'keel_dns_dropped_packets_total',
  help: 'Packets not answered: shorter than a header, or responses',
  registers: [registry],
});

/**
 * The hot path counts in plain maps; prom-client sees the counts when it
 * collects (a labelled inc() per query cost as much as answering it).
 * Nested by label (type → rcode → transport), so counting builds no key
 * string: the labels are constant strings whose hashes V8 keeps.
 */
const pendingRequests = new Map<string, Map<string, Map<string, number>>>();

export function countRequest(type: string, rcode: string, transport: string): void {
  let byRcode = pendingRequests.get(type);
  if (!byRcode) pendingRequests.set(type, (byRcode = new Map()));
  let byTransport = byRcode.get(rcode);
  if (!byTransport) byRcode.set(rcode, (byTransport = new Map()));
  byTransport.set(transport, (byTransport.get(transport) ?? 0) + 1);
}

function flushRequests(): void {
  for (const [type, byRcode] of pendingRequests)
    for (const [rcode, byTransport] of byRcode) for (const [transport, n] of byTransport) dnsRequests.inc({ type, rcode, transport }, n);
  pendingRequests.clear();
}

export const localDuration = dnsDuration.labels('local');
export const forwardDuration = dnsDuration.labels('forward');

/** Local answers are timed one in LATENCY_SAMPLE (the histogram's count is the sample's). */
export const LATENCY_SAMPLE = 8;
