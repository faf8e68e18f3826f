import { parentPort, workerData } from 'node:worker_threads';
import { AF_INET } from '../../kernel/address-family.js';
import { addressOf, EAGAIN, loadLibc, POLLIN, setNonBlocking, SOCK_DGRAM, sockaddrIn, SOL_SOCKET } from '../../kernel/tun/libc.js';
import { coalesceDatagrams } from './gro-coalesce.js';
import { segmentFrame } from './gso-segment.js';
import { GsoBatch } from './udp-gso-batch.js';
import { COUNTER_SLOT, COUNTERS, readTable, type UdpWorkerData } from './udp-shared.js';
import { VNET_HDR_LEN } from './virtio-net-hdr.js';

/**
 * One direction of flannel's udp data path for one TUN queue, in a tight
 * native-call loop, in batches: encap reads TUN frames (TSO super-packets when the pods offload),
 * cuts them into flannel datagrams and sends each batch bound for one node
 * with one UDP_SEGMENT sendto; decap receives with UDP_GRO (many datagrams
 * per recvmsg), merges a TCP flow's segments back into one super-packet and
 * writes it to the TUN. On the wire each datagram stays one plain IPv4
 * packet, so flannel nodes (and keel nodes on kernels without UDP GSO/GRO)
 * read and send the same bytes.
 */
const d = workerData as UdpWorkerData;
const libc = loadLibc();
const stop = new Int32Array(d.stop);
const counters = new Float64Array(d.counters, d.slot * COUNTER_SLOT * 8, COUNTER_SLOT);
const tableSeq = new Int32Array(d.table);
const pfd = Buffer.alloc(8);
// The FORCE variants pass net.core.[rw]mem_max (the agent runs as root).
const SOL_UDP = 17,
  SO_RCVBUFFORCE = 33,
  SO_SNDBUFFORCE = 32,
  SO_REUSEADDR = 2,
  SO_REUSEPORT = 15,
  UDP_SEGMENT = 103,
  UDP_GRO = 104;
/** recvmmsg messages per call, and the room for each (a UDP_GRO message holds up to 64 KB). */
const SLOTS = 8;
const SLOT = 65536;

const int = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};
const count = (i: number, by: number): void => {
  counters[i] = (counters[i] as number) + by;
};

const sock = libc.socket(AF_INET, SOCK_DGRAM, 0) as number;
libc.setsockopt(sock, SOL_SOCKET, d.mode === 'decap' ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, int(8 << 20), 4);
if (d.mode === 'decap') {
  libc.setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, int(1), 4);
  // Every queue's decap worker binds the port: the kernel spreads the peers' sockets over them by hash.
  libc.setsockopt(sock, SOL_SOCKET, SO_REUSEPORT, int(1), 4);
  if ((libc.bind(sock, sockaddrIn(d.bindIp, d.port), 16) as number) < 0) throw new Error(`bind :${d.port}: errno ${libc.errno()}`);
}
const inFd = d.mode === 'encap' ? d.tunFd : sock;
setNonBlocking(inFd);
pfd.writeInt32LE(inFd, 0);
pfd.writeInt16LE(POLLIN, 4);

if (d.mode === 'encap') encap();
else decap();
libc.close(sock);
parentPort?.postMessage('stopped');

function encap(): void {
  const frame = Buffer.alloc(VNET_HDR_LEN + 65535);
  const segs = Buffer.alloc(2 * 65536);
  const ends: number[] = [];
  let seq = -1;
  let routes = new Map<number, Buffer>();
  // UDP_SEGMENT as a socket option holds until changed: set only when a batch needs another size.
  let gso = 0;
  let gsoWorks = true;
  const send = (dst: Buffer, buf: Buffer, length: number, size: number, n: number): void => {
    const want = n > 1 ? size : gso === 0 || gso >= length ? gso : 0;
    if (gsoWorks && want !== gso) {
      gsoWorks = (libc.setsockopt(sock, SOL_UDP, UDP_SEGMENT, int(want), 4) as number) === 0;
      if (gsoWorks) gso = want;
    }
    if (gsoWorks || n === 1) {
      if (Number(libc.sendto(sock, buf, length, 0, dst, 16)) < 0) count(COUNTERS.drops, n);
      count(COUNTERS.encapBatches, 1);
      return;
    }
    for (let o = 0; o < length; o += size) {
      const part = buf.subarray(o, Math.min(o + size, length));
      if (Number(libc.sendto(sock, part, part.length, 0, dst, 16)) < 0) count(COUNTERS.drops, 1);
    }
    count(COUNTERS.encapBatches, n);
  };
  const batch = new GsoBatch(send);
  while (Atomics.load(stop, 0) === 0) {
    const n = Number(libc.read(inFd, frame, frame.length));
    if (n < 0) {
      batch.flush();
      if (libc.errno() === EAGAIN) libc.poll(pfd, 1, 200);
      continue;
    }
    if (Atomics.load(tableSeq, 0) !== seq) {
      const t = readTable(d.table);
      seq = t.seq;
      routes = new Map([...t.map].map(([subnet, ip]) => [subnet, sockaddrIn(ip, d.port)]));
    }
    const k = segmentFrame(frame, n, segs, ends);
    const dst = k > 0 ? routes.get((segs.readUInt32BE(16) & d.subnetMask) | 0) : undefined;
    if (!dst) {
      count(COUNTERS.drops, 1);
      continue;
    }
    for (let i = 0; i < k; i++) batch.add(dst, segs, i === 0 ? 0 : (ends[i - 1] as number), ends[i] as number);
    count(COUNTERS.encapPackets, k);
    count(COUNTERS.encapBytes, ends[k - 1] as number);
  }
}

function decap(): void {
  // UDP_GRO hands over up to 64 KB of one peer's datagrams per message, with their size in a control message;
  // recvmmsg takes several such messages (or single datagrams, when the underlay does no GRO) per call.
  const gro = (libc.setsockopt(sock, SOL_UDP, UDP_GRO, int(1), 4) as number) === 0;
  const buf = Buffer.alloc(SLOTS * SLOT);
  const out = Buffer.alloc(2 * SLOTS * SLOT);
  // SLOTS × (struct mmsghdr (64 bytes) + its iovec (16) + its control buffer (64)), in one Buffer V8 does not move.
  const mem = Buffer.alloc(SLOTS * 144);
  const base = addressOf(mem);
  const bufAt = addressOf(buf);
  for (let i = 0; i < SLOTS; i++) {
    const iov = SLOTS * 64 + i * 16;
    const ctl = SLOTS * 80 + i * 64;
    mem.writeBigUInt64LE(base + BigInt(iov), i * 64 + 16);
    mem.writeBigUInt64LE(1n, i * 64 + 24);
    mem.writeBigUInt64LE(base + BigInt(ctl), i * 64 + 32);
    mem.writeBigUInt64LE(bufAt + BigInt(i * SLOT), iov);
    mem.writeBigUInt64LE(BigInt(SLOT), iov + 8);
  }
  const spans: number[] = [];
  while (Atomics.load(stop, 0) === 0) {
    for (let i = 0; i < SLOTS; i++) mem.writeBigUInt64LE(64n, i * 64 + 40);
    const n = Number(libc.recvmmsg(sock, mem, SLOTS, 0, null));
    if (n <= 0) {
      if (libc.errno() === EAGAIN) libc.poll(pfd, 1, 200);
      continue;
    }
    spans.length = 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const len = mem.readUInt32LE(i * 64 + 56);
      const ctlLen = Number(mem.readBigUInt64LE(i * 64 + 40));
      const size = (gro && groSize(mem.subarray(SLOTS * 80 + i * 64, SLOTS * 80 + i * 64 + 64), ctlLen)) || len;
      for (let o = 0; o < len; o += size) spans.push(i * SLOT + o, i * SLOT + Math.min(o + size, len));
      bytes += len;
    }
    const { frames, dropped } = coalesceDatagrams(buf, spans, out);
    for (let i = 0; i < frames.length; i += 2) {
      const [from, to] = [frames[i] as number, frames[i + 1] as number];
      libc.write(d.tunFd, out.subarray(from, to), to - from);
    }
    count(COUNTERS.decapPackets, spans.length / 2 - dropped);
    count(COUNTERS.decapBytes, bytes);
    count(COUNTERS.drops, dropped);
    count(COUNTERS.decapBatches, frames.length / 2);
  }
}

/** The gso_size of a UDP_GRO control message among `len` bytes of cmsgs, or 0 when there is none. */
function groSize(ctl: Buffer, len: number): number {
  for (let o = 0; o + 16 <= len;) {
    const cmsgLen = Number(ctl.readBigUInt64LE(o));
    if (cmsgLen < 16) return 0;
    if (ctl.readInt32LE(o + 8) === SOL_UDP && ctl.readInt32LE(o + 12) === UDP_GRO) return ctl.readInt32LE(o + 16);
    o += (cmsgLen + 7) & ~7;
  }
  return 0;
}
