import type { Option } from 'commander';
import { UsageError } from '../api/errors.js';
import { POD_RECORDS_MODES, type PodRecordsMode } from '../dns/records.js';
import { keelOption, parseIntFlag } from './options.js';

/**
 * Worker threads with a SO_REUSEPORT socket each, answering in
 * recvmmsg/sendmmsg batches (src/dns/dns-workers.ts); 0: the agent thread
 * answers UDP through Node.js dgram (4.7× the CPU per query, measured in bench/dns).
 */
export function dnsWorkersOption(): Option {
  return keelOption(
    '--dns-workers <n>',
    'worker threads answering DNS over UDP, each with a SO_REUSEPORT socket answered in batches (TCP and forwarding stay on the agent thread); 0: the agent thread answers UDP itself, through Node.js dgram',
    1,
  ).argParser(parseIntFlag('--dns-workers', 0, 64));
}

/** CoreDNS's `pods` option; kubeadm's Corefile says `pods insecure`. */
export function podRecordsOption(): Option {
  return keelOption(
    '--pod-records <mode>',
    'answer <a-b-c-d>.<ns>.pod.<zone>: insecure (any address), verified (existing pods only) or disabled',
    'insecure',
  );
}

export function podRecordsMode(value: string): PodRecordsMode {
  if (!(POD_RECORDS_MODES as readonly string[]).includes(value))
    throw new UsageError(`--pod-records: "${value}" is not one of ${POD_RECORDS_MODES.join(', ')}`);
  return value as PodRecordsMode;
}
