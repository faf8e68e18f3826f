import koffi from 'koffi';

/**
 * The few libc calls the udp backend's data path needs, through koffi:
 * Node has no TUN API, and the per-packet loop stays out of the event loop.
 */
const lib = koffi.load('libc.so.6');

export const libc = {
  open: lib.func('int open(const char *path, int flags)'),
  ioctl: lib.func('int ioctl(int fd, unsigned long req, void *arg)'),
  read: lib.func('long read(int fd, void *buf, unsigned long n)'),
  write: lib.func('long write(int fd, const void *buf, unsigned long n)'),
  close: lib.func('int close(int fd)'),
  fcntl: lib.func('int fcntl(int fd, int cmd, int arg)'),
  poll: lib.func('int poll(void *fds, unsigned long n, int timeout)'),
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  bind: lib.func('int bind(int fd, const void *addr, unsigned int len)'),
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *val, unsigned int len)'),
  sendto: lib.func('long sendto(int fd, const void *buf, unsigned long n, int flags, const void *addr, unsigned int len)'),
  recv: lib.func('long recv(int fd, void *buf, unsigned long n, int flags)'),
  errno: (): number => koffi.errno(),
};

const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const F_GETFL = 3;
const F_SETFL = 4;
export const EAGAIN = 11;
export const POLLIN = 1;
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;

/** Opens a TUN device (no packet-info header) and returns its fd; the device lives while the fd is open. */
export function openTun(name: string): number {
  const fd = libc.open('/dev/net/tun', O_RDWR) as number;
  if (fd < 0) throw new Error(`open /dev/net/tun: errno ${libc.errno()}`);
  const ifr = Buffer.alloc(40);
  ifr.write(name, 0, 15, 'ascii');
  ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI, 16);
  if ((libc.ioctl(fd, TUNSETIFF, ifr) as number) < 0) {
    const e = libc.errno();
    libc.close(fd);
    throw new Error(`TUNSETIFF ${name}: errno ${e}`);
  }
  return fd;
}

export function setNonBlocking(fd: number): void {
  const flags = libc.fcntl(fd, F_GETFL, 0) as number;
  libc.fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

export function sockaddrIn(ip: number, port: number): Buffer {
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(2, 0);
  sa.writeUInt16BE(port, 2);
  sa.writeUInt32BE(ip >>> 0, 4);
  return sa;
}
