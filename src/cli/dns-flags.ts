import type { Option } from 'commander';
import { UsageError } from '../api/errors.js';
import { POD_RECORDS_MODES, type PodRecordsMode } from '../dns/records.js';
import { keelOption, parseIntFlag } from './options.js';

/** 2 or more: worker threads with a SO_REUSEPORT socket each, answering in recvmmsg/sendmmsg batches (src/dns/dns-workers.ts). */
export function dnsWorkersOption(): Option {
  return keelOption(
    '--dns-workers <n>',
    'threads answering DNS over UDP: 1 is the agent thread; n ≥ 2 are n worker threads with a SO_REUSEPORT socket each (TCP and forwarding stay on the agent thread)',
    1,
  ).argParser(parseIntFlag('--dns-workers', 1, 64));
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
