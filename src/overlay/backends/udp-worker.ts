import { parentPort, workerData } from 'node:worker_threads';
import { EAGAIN, libc, POLLIN, setNonBlocking, sockaddrIn } from '../../kernel/tun/libc.js';
import { COUNTERS, readTable, type UdpWorkerData } from './udp-shared.js';

/**
 * One direction of flannel's udp data path in a tight native-call loop:
 * encap reads IP packets from the TUN and sends each to the PublicIP of
 * the lease holding its destination; decap receives datagrams on the
 * port and writes them to the TUN for the kernel to route.
 */
const d = workerData as UdpWorkerData;
const stop = new Int32Array(d.stop);
const counters = new Float64Array(d.counters);
const tableSeq = new Int32Array(d.table);
const buf = Buffer.alloc(65536);
const pfd = Buffer.alloc(8);
// The FORCE variants pass net.core.[rw]mem_max (the agent runs as root).
const AF_INET = 2,
  SOCK_DGRAM = 2,
  SOL_SOCKET = 1,
  SO_RCVBUFFORCE = 33,
  SO_SNDBUFFORCE = 32,
  SO_REUSEADDR = 2;

const sock = libc.socket(AF_INET, SOCK_DGRAM, 0) as number;
const big = Buffer.alloc(4);
big.writeInt32LE(4 << 20);
libc.setsockopt(sock, SOL_SOCKET, d.mode === 'decap' ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, big, 4);
if (d.mode === 'decap') {
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  libc.setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, one, 4);
  if ((libc.bind(sock, sockaddrIn(d.bindIp, d.port), 16) as number) < 0) throw new Error(`bind :${d.port}: errno ${libc.errno()}`);
}
const inFd = d.mode === 'encap' ? d.tunFd : sock;
setNonBlocking(inFd);
pfd.writeInt32LE(inFd, 0);
pfd.writeInt16LE(POLLIN, 4);

let seq = -1;
let routes = new Map<number, Buffer>();
const refresh = (): void => {
  const t = readTable(d.table);
  seq = t.seq;
  routes = new Map([...t.map].map(([subnet, ip]) => [subnet, sockaddrIn(ip, d.port)]));
};

while (Atomics.load(stop, 0) === 0) {
  const n = Number(d.mode === 'encap' ? libc.read(inFd, buf, buf.length) : libc.recv(inFd, buf, buf.length, 0));
  if (n < 0) {
    if (libc.errno() === EAGAIN) libc.poll(pfd, 1, 200);
    continue;
  }
  if (d.mode === 'decap') {
    if (n >= 20 && (buf[0] as number) >> 4 === 4) {
      libc.write(d.tunFd, buf, n);
      counters[COUNTERS.decapPackets] = (counters[COUNTERS.decapPackets] as number) + 1;
      counters[COUNTERS.decapBytes] = (counters[COUNTERS.decapBytes] as number) + n;
    } else counters[COUNTERS.drops] = (counters[COUNTERS.drops] as number) + 1;
    continue;
  }
  if (Atomics.load(tableSeq, 0) !== seq) refresh();
  const dst = n >= 20 && (buf[0] as number) >> 4 === 4 ? routes.get((buf.readUInt32BE(16) & d.subnetMask) | 0) : undefined;
  if (!dst) {
    counters[COUNTERS.drops] = (counters[COUNTERS.drops] as number) + 1;
    continue;
  }
  libc.sendto(sock, buf, n, 0, dst, 16);
  counters[COUNTERS.encapPackets] = (counters[COUNTERS.encapPackets] as number) + 1;
  counters[COUNTERS.encapBytes] = (counters[COUNTERS.encapBytes] as number) + n;
}
libc.close(sock);
parentPort?.postMessage('stopped');
