/**
 * The native relay's thread (native-relay.ts): accepts on the TCP proxy
 * ports, dials the endpoint RoundRobin picks, and moves the bytes with
 * epoll and recv/send through koffi, one call per syscall and no JS stream
 * objects, which cost Node.js ~15 µs of user time per relayed chunk and
 * ~150 µs per connection.
 *
 * Each direction is relayed through one shared 64 KB read buffer: a read
 * is sent at once, and only a send the kernel takes in part leaves its rest
 * pending (copied), while reading from that side stops until the rest has
 * gone — at most 64 KB held per direction. A FIN is passed on as a
 * shutdown of the other side's write half once nothing is pending; an
 * error closes both sockets.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { AF_INET } from '../kernel/address-family.js';
import { EAGAIN, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, loadLibc, sockaddrIn } from '../kernel/tun/libc.js';
import { RoundRobin } from './round-robin.js';
import type { PortalName } from './service-portals.js';
import { COUNTER, type RelayMessage, type RelayWorkerData } from './native-relay-protocol.js';

const c = loadLibc();

const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLERR = 0x8;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_MOD = 3;
const EPOLL_CTL_DEL = 2;
const SO_ERROR = 4;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const MSG_NOSIGNAL = 0x4000;
const SHUT_WR = 1;
const EINTR = 4;
const EINPROGRESS = 115;
const ECONNREFUSED = 111;

/** struct epoll_event is packed (12 bytes) on x86-64 only. */
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_OFFSET = process.arch === 'x64' ? 4 : 8;
const MAX_EVENTS = 256;
const READ_BUFFER_BYTES = 64 * 1024;
/** Accepts per readiness of a listener, so one busy port does not starve the others. */
const ACCEPT_BATCH = 16;
const PURGE_EVERY_MS = 10_000;
/** The longest epoll_wait: Node.js ends a worker only between JavaScript calls, so a process exiting without stop() waits at most this long. */
const MAX_WAIT_MS = 1000;

interface Port {
  readonly name: PortalName;
  readonly fd: number;
  readonly counters: Float64Array;
  readonly dialTimeoutsMs: readonly number[];
  listening: boolean;
}

/** One direction of a connection: bytes read from one side and not yet taken by the other's send buffer. */
interface Direction {
  pending: Buffer | undefined;
  /** The reading side sent its FIN. */
  eof: boolean;
  /** The FIN was passed on (shutdown of the other side's write half). */
  shut: boolean;
}

interface Conn {
  readonly port: Port;
  readonly client: number;
  readonly clientIP: string;
  backend: number;
  attempt: number;
  /** While dialing: when this attempt gives up (ms, Date.now()). */
  deadline: number;
  connected: boolean;
  /** client → endpoint */
  readonly up: Direction;
  /** endpoint → client */
  readonly down: Direction;
  clientEvents: number;
  backendEvents: number;
}

const d = workerData as RelayWorkerData;
const port = parentPort;
if (!port) throw new Error('native-relay-worker runs as a worker thread');

const rr = new RoundRobin();
const epfd = c.epollCreate1(SOCK_CLOEXEC) as number;
const listeners = new Map<number, Port>();
/** Both sockets of every connection, by fd. */
const conns = new Map<number, Conn>();
const dialing = new Set<Conn>();
/**
 * Sockets closed while a batch of events is handled are closed after it: a
 * number reused at once (accept, socket) would otherwise receive the
 * batch's later events meant for the closed socket.
 */
const closing: number[] = [];
const addresses = new Map<string, Buffer>();
const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
const events = Buffer.alloc(EVENT_SIZE * MAX_EVENTS);
const event = Buffer.alloc(EVENT_SIZE);
const peer = Buffer.alloc(16);
const peerLen = Buffer.alloc(4);
const intBuf = Buffer.alloc(4);
const intLen = Buffer.alloc(4);
const one = Buffer.from([1, 0, 0, 0]);
const wakeCounter = Buffer.alloc(8);
let stopped = false;

function count(p: Port, counter: number, n: number): void {
  p.counters[counter] = (p.counters[counter] ?? 0) + n;
}

function ctl(op: number, fd: number, events: number): void {
  event.writeUInt32LE(events, 0);
  event.writeUInt32LE(fd, DATA_OFFSET);
  c.epollCtl(epfd, op, fd, event);
}

ctl(EPOLL_CTL_ADD, d.wakeFd, EPOLLIN);

function handle(m: RelayMessage): void {
  switch (m.kind) {
    case 'listen': {
      const p: Port = { name: m.name, fd: m.fd, counters: new Float64Array(m.counters), dialTimeoutsMs: m.dialTimeoutsMs, listening: true };
      listeners.set(m.fd, p);
      ctl(EPOLL_CTL_ADD, m.fd, EPOLLIN);
      break;
    }
    case 'unlisten': {
      const p = listeners.get(m.fd);
      if (p) unlisten(p);
      break;
    }
    case 'route':
      addresses.clear();
      rr.update(m.name, m.endpoints, m.affinitySeconds);
      break;
    case 'unroute':
      rr.remove(m.name);
      break;
    case 'stop':
      stopped = true;
      break;
  }
}

function unlisten(p: Port): void {
  if (!p.listening) return;
  p.listening = false;
  listeners.delete(p.fd);
  ctl(EPOLL_CTL_DEL, p.fd, 0);
  closing.push(p.fd);
}

function accept(p: Port): void {
  for (let i = 0; i < ACCEPT_BATCH; i++) {
    // The peer's address costs a copy only where affinity needs it; accept4 returns it with the socket.
    peerLen.writeUInt32LE(16, 0);
    const fd = c.accept4(p.fd, peer, peerLen, SOCK_NONBLOCK | SOCK_CLOEXEC) as number;
    if (fd < 0) return;
    c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4);
    count(p, COUNTER.connections, 1);
    count(p, COUNTER.active, 1);
    const conn: Conn = {
      port: p,
      client: fd,
      clientIP: `${peer[4]}.${peer[5]}.${peer[6]}.${peer[7]}`,
      backend: -1,
      attempt: 0,
      deadline: 0,
      connected: false,
      up: { pending: undefined, eof: false, shut: false },
      down: { pending: undefined, eof: false, shut: false },
      clientEvents: 0,
      backendEvents: 0,
    };
    // Not watched until an endpoint answers: its bytes wait in the kernel, as with pauseOnConnect.
    conns.set(fd, conn);
    dial(conn);
  }
}

/** Dial attempt conn.attempt, with kube-proxy's growing timeouts; a refused or silent endpoint costs one attempt, not the client. */
function dial(conn: Conn): void {
  const p = conn.port;
  const timeoutMs = p.dialTimeoutsMs[conn.attempt];
  if (timeoutMs === undefined) {
    closeConn(conn);
    return;
  }
  const endpoint = rr.next(p.name, conn.clientIP, conn.attempt > 0);
  if (endpoint === undefined) {
    count(p, COUNTER.noEndpoints, 1);
    // What the client already sent is read first: closing over unread bytes would reset the connection.
    c.recv(conn.client, readBuffer, READ_BUFFER_BYTES, MSG_DONTWAIT);
    closeConn(conn);
    return;
  }
  const sa = addresses.get(endpoint) ?? address(endpoint);
  const fd = c.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
  if (fd < 0) {
    count(p, COUNTER.error, 1);
    closeConn(conn);
    return;
  }
  c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4);
  conn.backend = fd;
  conns.set(fd, conn);
  if ((c.connect(fd, sa, 16) as number) < 0) {
    const e = c.errno();
    if (e !== EINPROGRESS) {
      dialFailed(conn, e);
      return;
    }
  }
  conn.deadline = Date.now() + timeoutMs;
  dialing.add(conn);
  watch(fd, 0, (conn.backendEvents = EPOLLOUT));
}

/** An endpoint's sockaddr_in, kept until the endpoints next change. */
function address(endpoint: string): Buffer {
  const colon = endpoint.lastIndexOf(':');
  const ip = endpoint
    .slice(0, colon)
    .split('.')
    .reduce((n, octet) => n * 256 + Number(octet), 0);
  const sa = sockaddrIn(ip, Number(endpoint.slice(colon + 1)));
  addresses.set(endpoint, sa);
  return sa;
}

/** The endpoint socket became writable (or failed): the dial's outcome is its SO_ERROR. */
function connected(conn: Conn): void {
  intLen.writeUInt32LE(4, 0);
  c.getsockopt(conn.backend, SOL_SOCKET, SO_ERROR, intBuf, intLen);
  const e = intBuf.readInt32LE(0);
  if (e !== 0) {
    dialFailed(conn, e);
    return;
  }
  dialing.delete(conn);
  conn.connected = true;
  update(conn);
}

function dialFailed(conn: Conn, errno: number): void {
  dialing.delete(conn);
  count(conn.port, errno === ECONNREFUSED ? COUNTER.refused : errno === 0 ? COUNTER.timeout : COUNTER.error, 1);
  conns.delete(conn.backend);
  closing.push(conn.backend);
  conn.backend = -1;
  conn.backendEvents = 0;
  conn.attempt++;
  dial(conn);
}

/** Sets each socket's epoll interest from the directions' state; a connection with both FINs passed on is closed. */
function update(conn: Conn): void {
  const { up, down } = conn;
  if (up.shut && down.shut) {
    closeConn(conn);
    return;
  }
  const client = (up.eof || up.pending ? 0 : EPOLLIN) | (down.pending ? EPOLLOUT : 0);
  const backend = (down.eof || down.pending ? 0 : EPOLLIN) | (up.pending ? EPOLLOUT : 0);
  if (client !== conn.clientEvents) watch(conn.client, conn.clientEvents, (conn.clientEvents = client));
  if (backend !== conn.backendEvents) watch(conn.backend, conn.backendEvents, (conn.backendEvents = backend));
}

/**
 * Changes a socket's epoll interest. A socket with none is taken out of
 * the epoll set: the kernel reports a hang-up whether asked or not, and a
 * side that is not read (its peer's send buffer is full) may have hung up
 * with bytes still to read.
 */
function watch(fd: number, from: number, to: number): void {
  ctl(from === 0 ? EPOLL_CTL_ADD : to === 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD, fd, to);
}

function closeConn(conn: Conn): void {
  dialing.delete(conn);
  if (conns.delete(conn.client)) {
    closing.push(conn.client);
    count(conn.port, COUNTER.active, -1);
  }
  if (conn.backend >= 0 && conns.delete(conn.backend)) closing.push(conn.backend);
}

/**
 * One read from `from`, sent on to `to` at once. Returns false when the
 * connection failed (and is closed).
 */
function relay(conn: Conn, from: number, to: number, dir: Direction, counter: number): boolean {
  const n = c.recv(from, readBuffer, READ_BUFFER_BYTES, 0) as number;
  if (n > 0) {
    count(conn.port, counter, n);
    const sent = c.send(to, readBuffer, n, MSG_DONTWAIT | MSG_NOSIGNAL) as number;
    if (sent === n) return true;
    if (sent < 0 && c.errno() !== EAGAIN) return false;
    dir.pending = Buffer.from(readBuffer.subarray(Math.max(sent, 0), n));
    return true;
  }
  if (n === 0) {
    dir.eof = true;
    return finish(to, dir);
  }
  const e = c.errno();
  return e === EAGAIN || e === EINTR;
}

/** Sends what `dir` holds for `to`; false when the connection failed. */
function flush(to: number, dir: Direction): boolean {
  const pending = dir.pending;
  if (!pending) return true;
  const sent = c.send(to, pending, pending.length, MSG_DONTWAIT | MSG_NOSIGNAL) as number;
  if (sent < 0) return c.errno() === EAGAIN;
  dir.pending = sent === pending.length ? undefined : pending.subarray(sent);
  return finish(to, dir);
}

/** Passes a FIN on once everything before it has gone. */
function finish(to: number, dir: Direction): boolean {
  if (dir.eof && !dir.pending && !dir.shut) {
    dir.shut = true;
    c.shutdown(to, SHUT_WR);
  }
  return true;
}

function ready(fd: number, ev: number): void {
  const conn = conns.get(fd);
  if (!conn) return;
  if (!conn.connected) {
    connected(conn);
    return;
  }
  const isClient = fd === conn.client;
  let ok = (ev & EPOLLERR) === 0;
  const interest = isClient ? conn.clientEvents : conn.backendEvents;
  // Writable first: sending what is pending may let this side be read again below.
  if (ok && ev & EPOLLOUT) ok = isClient ? flush(conn.client, conn.down) : flush(conn.backend, conn.up);
  if (ok && interest & EPOLLIN && ev & EPOLLIN)
    ok = isClient
      ? relay(conn, conn.client, conn.backend, conn.up, COUNTER.bytesIn)
      : relay(conn, conn.backend, conn.client, conn.down, COUNTER.bytesOut);
  if (ok) update(conn);
  else closeConn(conn);
}

function expire(now: number): void {
  for (const conn of dialing) if (now >= conn.deadline) dialFailed(conn, 0);
}

function timeout(now: number): number {
  let next = MAX_WAIT_MS;
  for (const conn of dialing) next = Math.min(next, Math.max(0, conn.deadline - now));
  return next;
}

let lastPurge = Date.now();
const closeAll = (): void => {
  for (const fd of closing) c.close(fd);
  closing.length = 0;
};
while (!stopped) {
  const n = c.epollWait(epfd, events, MAX_EVENTS, dialing.size ? timeout(Date.now()) : MAX_WAIT_MS) as number;
  for (let i = 0; i < n; i++) {
    const ev = events.readUInt32LE(i * EVENT_SIZE);
    const fd = events.readUInt32LE(i * EVENT_SIZE + DATA_OFFSET);
    if (fd === d.wakeFd) {
      c.read(d.wakeFd, wakeCounter, 8);
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) handle(m.message as RelayMessage);
      continue;
    }
    const p = listeners.get(fd);
    if (p) accept(p);
    else ready(fd, ev);
  }
  const now = Date.now();
  if (dialing.size) expire(now);
  if (now - lastPurge >= PURGE_EVERY_MS) {
    lastPurge = now;
    rr.purgeExpired();
  }
  closeAll();
}
for (const p of [...listeners.values()]) unlisten(p);
for (const conn of [...conns.values()]) closeConn(conn);
closeAll();
c.close(epfd);
port.postMessage('stopped');
port.close();
