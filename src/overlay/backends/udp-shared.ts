/**
 * The udp backend's main thread and its data-path workers (an encap and a
 * decap worker per TUN queue) share two SharedArrayBuffers: the forwarding
 * table (subnet → node PublicIP, guarded by a sequence number) and the packet
 * counters, a slot of COUNTER_SLOT per worker so that each adds to its own.
 */
const MAX_ENTRIES = 4096;
export const COUNTERS = {
  encapPackets: 0,
  encapBytes: 1,
  decapPackets: 2,
  decapBytes: 3,
  drops: 4,
  encapBatches: 5,
  decapBatches: 6,
} as const;
export const COUNTER_SLOT = 8;

export interface UdpWorkerData {
  mode: 'encap' | 'decap';
  /** The fd of this worker's TUN queue. */
  tunFd: number;
  port: number;
  /** Host-order u32 of the local address to bind (0 = any). */
  bindIp: number;
  subnetMask: number;
  table: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  /** This worker's slot in `counters`. */
  slot: number;
  stop: SharedArrayBuffer;
}

export function newTable(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (2 + MAX_ENTRIES * 2));
}

/** Writer side: [seq, count, (subnet, ip)…]; seq is odd while a write is in progress. */
export function writeTable(sab: SharedArrayBuffer, entries: ReadonlyArray<readonly [number, number]>): void {
  const a = new Int32Array(sab);
  Atomics.add(a, 0, 1);
  const n = Math.min(entries.length, MAX_ENTRIES);
  for (let i = 0; i < n; i++) {
    const e = entries[i] as readonly [number, number];
    a[2 + i * 2] = e[0] | 0;
    a[3 + i * 2] = e[1] | 0;
  }
  Atomics.store(a, 1, n);
  Atomics.add(a, 0, 1);
}

/** Reader side: a consistent copy of the table and the sequence it was read at. */
export function readTable(sab: SharedArrayBuffer): { seq: number; map: Map<number, number> } {
  const a = new Int32Array(sab);
  for (;;) {
    const seq = Atomics.load(a, 0);
    if (seq % 2 === 1) continue;
    const n = Atomics.load(a, 1);
    const map = new Map<number, number>();
    for (let i = 0; i < n; i++) map.set(a[2 + i * 2] as number, a[3 + i * 2] as number);
    if (Atomics.load(a, 0) === seq) return { seq, map };
  }
}
