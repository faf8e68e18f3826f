import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';
import { KeelError } from '../../api/errors.js';
import { AF_INET } from '../address-family.js';

/**
 * koffi (a native addon) or libc.so.6 could not be loaded, or a syscall a
 * native path needs is refused (a seccomp filter, an old kernel). Paths that
 * have a Node.js fallback (the DNS worker threads) catch it by code.
 */
export class NativeUnavailableError extends KeelError {
  override name = 'NativeUnavailableError' as const;
  constructor(what: string, cause?: unknown) {
    super('KEEL_NATIVE_UNAVAILABLE', `${what}${cause instanceof Error ? `: ${cause.message.split('\n')[0] ?? ''}` : ''}`, {
      subject: 'native calls (koffi)',
      cause,
    });
  }
}

/**
 * The few libc calls keel needs through koffi: the udp backend's data path
 * (Node has no TUN API, and the per-packet loop stays out of the event loop);
 * the DNS worker threads' SO_REUSEPORT sockets, answered in batches
 * (recvmmsg, sendmmsg) and woken by an eventfd; setns, for sockets opened in
 * another network namespace; the userspace proxy's native relay (epoll,
 * accept4, connect, recv/send), which moves TCP bytes without Node.js streams.
 */
function bind(koffi: typeof Koffi) {
  const lib = koffi.load('libc.so.6');
  return {
    open: lib.func('int open(const char *path, int flags)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long req, void *arg)'),
    ioctlValue: lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']),
    read: lib.func('long read(int fd, void *buf, unsigned long n)'),
    write: lib.func('long write(int fd, const void *buf, unsigned long n)'),
    close: lib.func('int close(int fd)'),
    fcntl: lib.func('int fcntl(int fd, int cmd, int arg)'),
    poll: lib.func('int poll(void *fds, unsigned long n, int timeout)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    setns: lib.func('int setns(int fd, int nstype)'),
    bind: lib.func('int bind(int fd, const void *addr, unsigned int len)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *val, unsigned int len)'),
    sendto: lib.func('long sendto(int fd, const void *buf, unsigned long n, int flags, const void *addr, unsigned int len)'),
    recvmmsg: lib.func('int recvmmsg(int fd, void *msgs, unsigned int vlen, int flags, void *timeout)'),
    sendmmsg: lib.func('int sendmmsg(int fd, void *msgs, unsigned int vlen, int flags)'),
    getsockname: lib.func('int getsockname(int fd, void *addr, void *len)'),
    eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
    listen: lib.func('int listen(int fd, int backlog)'),
    accept4: lib.func('int accept4(int fd, void *addr, void *len, int flags)'),
    connect: lib.func('int connect(int fd, const void *addr, unsigned int len)'),
    recv: lib.func('long recv(int fd, void *buf, unsigned long n, int flags)'),
    send: lib.func('long send(int fd, const void *buf, unsigned long n, int flags)'),
    shutdown: lib.func('int shutdown(int fd, int how)'),
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *val, void *len)'),
    epollCreate1: lib.func('int epoll_create1(int flags)'),
    epollCtl: lib.func('int epoll_ctl(int epfd, int op, int fd, void *event)'),
    epollWait: lib.func('int epoll_wait(int epfd, void *events, int max, int timeout)'),
    memmove: lib.func('void *memmove(void *dest, const void *src, unsigned long n)'),
    errno: (): number => koffi.errno(),
    address: (p: unknown): bigint => BigInt(koffi.address(p)),
  };
}

export type Libc = ReturnType<typeof bind>;

let loaded: Libc | undefined;

/**
 * libc through koffi, loaded on first use and through require, so that an
 * agent whose paths need no native call (iptables mode, `--dns-workers 0`)
 * starts where koffi cannot load, and one that has a Node.js fallback can
 * take it. Throws NativeUnavailableError.
 */
export function loadLibc(): Libc {
  if (loaded) return loaded;
  try {
    loaded = bind(createRequire(import.meta.url)('koffi') as typeof Koffi);
  } catch (err) {
    throw new NativeUnavailableError('cannot load koffi and libc.so.6', err);
  }
  return loaded;
}

/**
 * The address of a Buffer's memory, for the pointers inside a struct msghdr
 * built by hand (koffi would marshal a struct object on every call). Only for
 * Buffers of more than 64 bytes, whose memory V8 never moves.
 */
export function addressOf(buf: Buffer): bigint {
  const libc = loadLibc();
  return libc.address(libc.memmove(buf, buf, 0));
}

const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const F_GETFL = 3;
const F_SETFL = 4;
export const EAGAIN = 11;
/** Socket constants of x86-64/arm64 Linux, for the koffi socket paths (DNS workers, the native relay). */
export const SOCK_DGRAM = 2;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const MSG_DONTWAIT = 0x40;
export const POLLIN = 1;
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const IFF_MULTI_QUEUE = 0x0100;
const TUNSETOFFLOAD = 0x400454d0;
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_USO4 = 0x20;

/**
 * Opens a TUN device with `queues` queues (IFF_MULTI_QUEUE when more than
 * one: each open of the same name attaches one more queue, and the kernel
 * spreads flows over them by hash) and returns one fd per queue; the device
 * lives while they are open. No packet-info header; a virtio_net_hdr before
 * every packet. The offloads let the kernel hand over TCP (and, from Linux
 * 6.2, UDP) GSO super-packets with checksums left partial: `offloads` says
 * which it took.
 */
export function openTun(name: string, queues: number): { fds: number[]; offloads: 'csum+tso4+uso4' | 'csum+tso4' | 'none' } {
  const libc = loadLibc();
  const fds: number[] = [];
  const fail = (what: string): never => {
    const e = libc.errno();
    for (const fd of fds) libc.close(fd);
    throw new KeelError('KEEL_NETLINK_FAILED', `${what}: errno ${e}`, { subject: `tun ${name}` });
  };
  const ifr = Buffer.alloc(40);
  ifr.write(name, 0, 15, 'ascii');
  ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0), 16);
  for (let q = 0; q < queues; q++) {
    const fd = libc.open('/dev/net/tun', O_RDWR) as number;
    if (fd < 0) fail('open /dev/net/tun');
    fds.push(fd);
    if ((libc.ioctl(fd, TUNSETIFF, ifr) as number) < 0) fail('TUNSETIFF');
  }
  const fd = fds[0] as number;
  // TUNSETOFFLOAD sets the device's offloads through any queue, its flags by value;
  // EINVAL means the kernel lacks one of them (USO4 came in Linux 6.2).
  if ((libc.ioctlValue(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_USO4) as number) === 0)
    return { fds, offloads: 'csum+tso4+uso4' };
  if ((libc.ioctlValue(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) as number) === 0) return { fds, offloads: 'csum+tso4' };
  return { fds, offloads: 'none' };
}

export function setNonBlocking(fd: number): void {
  const libc = loadLibc();
  const flags = libc.fcntl(fd, F_GETFL, 0) as number;
  libc.fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

export function sockaddrIn(ip: number, port: number): Buffer {
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(AF_INET, 0);
  sa.writeUInt16BE(port, 2);
  sa.writeUInt32BE(ip >>> 0, 4);
  return sa;
}
