import { ConfigError } from '../api/errors.js';
import { parseIp } from '../api/ip.js';
import { AF_INET, AF_INET6 } from '../kernel/address-family.js';
import { loadLibc, MSG_DONTWAIT, NativeUnavailableError, SOCK_CLOEXEC, SOCK_DGRAM, sockaddrIn, SOL_SOCKET } from '../kernel/tun/libc.js';

const SO_RCVBUF = 8;
const SO_REUSEPORT = 15;

/**
 * `count` UDP sockets on one address and port, each with SO_REUSEPORT, as
 * knot gives its UDP workers: the kernel spreads datagrams over them by the
 * client's address and port, and each DNS worker thread reads its own.
 * Port 0: the first socket picks a free port, the others join it. Node.js
 * 20's dgram cannot set SO_REUSEPORT, so they are made through libc.
 */
export function bindReusePortGroup(host: string, port: number, count: number): { port: number; fds: number[] } {
  const libc = loadLibc();
  const ip = parseIp(host);
  if (!ip) throw new ConfigError('--dns-listen', `${host} is not an IP address`);
  const fds: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const fd = libc.socket(ip.family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number;
      if (fd < 0) throw new ConfigError('--dns-listen', `socket: errno ${libc.errno()}`);
      fds.push(fd);
      libc.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, int(1), 4);
      // As the agent's own dgram socket asks (capped by net.core.rmem_max).
      libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int(4 << 20), 4);
      const sa = ip.family === 4 ? sockaddrIn(Number(ip.value), port) : sockaddrIn6(ip.value, port);
      if ((libc.bind(fd, sa, sa.length) as number) < 0) {
        throw new ConfigError('--dns-listen', `cannot bind udp ${host}:${port}: errno ${libc.errno()}`);
      }
      if (port === 0) port = boundPort(fd);
    }
  } catch (err) {
    for (const fd of fds) libc.close(fd);
    throw err;
  }
  return { port, fds };
}

/**
 * Throws NativeUnavailableError unless koffi loads and the kernel lets this
 * process make the calls the batched path needs (recvmmsg and sendmmsg, on a
 * throwaway socket with no message: a seccomp filter or an old kernel
 * refuses them whatever the arguments).
 */
export function probeBatchedUdp(): void {
  const libc = loadLibc();
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number;
  if (fd < 0) throw new NativeUnavailableError(`socket: errno ${libc.errno()}`);
  try {
    if ((libc.recvmmsg(fd, null, 0, MSG_DONTWAIT, null) as number) < 0) throw new NativeUnavailableError(`recvmmsg: errno ${libc.errno()}`);
    if ((libc.sendmmsg(fd, null, 0, 0) as number) < 0) throw new NativeUnavailableError(`sendmmsg: errno ${libc.errno()}`);
  } finally {
    libc.close(fd);
  }
}

function boundPort(fd: number): number {
  const libc = loadLibc();
  const sa = Buffer.alloc(28);
  const len = int(28);
  if ((libc.getsockname(fd, sa, len) as number) < 0) throw new ConfigError('--dns-listen', `getsockname: errno ${libc.errno()}`);
  return sa.readUInt16BE(2);
}

function sockaddrIn6(value: bigint, port: number): Buffer {
  const sa = Buffer.alloc(28);
  sa.writeUInt16LE(AF_INET6, 0);
  sa.writeUInt16BE(port, 2);
  sa.writeBigUInt64BE(value >> 64n, 8);
  sa.writeBigUInt64BE(value & 0xffff_ffff_ffff_ffffn, 16);
  return sa;
}

function int(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
