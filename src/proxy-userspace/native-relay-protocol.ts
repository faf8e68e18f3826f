import type { PortalName } from './service-portals.js';

/** What the agent's thread tells the native relay's thread (native-relay-worker.ts). */
export type RelayMessage =
  | { kind: 'listen'; fd: number; name: PortalName; counters: SharedArrayBuffer; dialTimeoutsMs: readonly number[] }
  | { kind: 'unlisten'; fd: number }
  | { kind: 'route'; name: PortalName; endpoints: readonly string[]; affinitySeconds: number | undefined }
  | { kind: 'unroute'; name: PortalName }
  | { kind: 'stop' };

export interface RelayWorkerData {
  /** Written by the agent after each message, to wake the thread's epoll_wait. */
  wakeFd: number;
}

/**
 * A listener's figures, in a Float64Array shared with the agent's thread:
 * the relay's thread counts, the agent's reads them when /metrics is
 * scraped. All are running totals but `active`.
 */
export const COUNTER = {
  connections: 0,
  active: 1,
  bytesIn: 2,
  bytesOut: 3,
  refused: 4,
  timeout: 5,
  error: 6,
  noEndpoints: 7,
} as const;
export const COUNTERS = 8;
