import { ipFromValue } from '../api/ip.js';
import { AF_INET, AF_INET6 } from '../kernel/address-family.js';
import { addressOf, EAGAIN, loadLibc, MSG_DONTWAIT } from '../kernel/tun/libc.js';
import type { Client, DnsHandler } from './dns-handler.js';
import { EDNS_UDP_SIZE } from './response.js';

/** Datagrams per recvmmsg/sendmmsg. */
const SLOTS = 64;
/** Room per query; a longer one arrives cut (MSG_TRUNC) and is dropped. */
const IN_SLOT = 2048;
/** Room per answer: a UDP client never gets more than EDNS_UDP_SIZE. */
const OUT_SLOT = EDNS_UDP_SIZE;
/** struct mmsghdr on 64-bit Linux: msghdr (56) + msg_len, padded. */
const MMSG = 64;
/** Room for a sockaddr_in6. */
const NAME = 32;
const MSG_TRUNC = 0x20;
// Only a DNS worker thread imports this file, after the agent found koffi loadable (dns-service.ts).
const libc = loadLibc();

/**
 * Answers one UDP socket in batches: one recvmmsg takes up to 64 queries,
 * each cached answer is written straight into a send buffer, and one
 * sendmmsg returns them all. Node's dgram costs a recvmsg, a sendmsg and
 * several objects per query; here the syscalls are shared by the batch.
 * Runs in a DNS worker thread, whose loop calls serveBatch() (never the
 * agent's event loop: the calls block nothing, but the loop around them does).
 */
export class UdpBatchServer {
  /** recv mmsghdrs, send mmsghdrs, recv iovecs, send iovecs, sender addresses: one Buffer V8 does not move. */
  private readonly mem = Buffer.alloc(SLOTS * (2 * MMSG + 2 * 16 + NAME));
  private readonly inBuf = Buffer.alloc(SLOTS * IN_SLOT);
  private readonly outBuf = Buffer.alloc(SLOTS * OUT_SLOT);
  private readonly nameAt = SLOTS * (2 * MMSG + 32);
  /** Per slot, the pointers a send mmsghdr takes (written as BigInts, made once). */
  private readonly namePtr: bigint[] = [];
  private readonly outIovPtr: bigint[] = [];
  private lastV4 = -1;
  private lastClient: Client = { address: '', transport: 'udp' };

  constructor(
    private readonly fd: number,
    private readonly handler: DnsHandler,
    private readonly failed: (err: unknown) => void,
  ) {
    const base = addressOf(this.mem);
    const inAt = addressOf(this.inBuf);
    const outAt = addressOf(this.outBuf);
    const sendAt = SLOTS * MMSG;
    const inIov = 2 * SLOTS * MMSG;
    const outIov = inIov + SLOTS * 16;
    for (let i = 0; i < SLOTS; i++) {
      const name = base + BigInt(this.nameAt + i * NAME);
      this.namePtr.push(name);
      this.outIovPtr.push(base + BigInt(outIov + i * 16));
      this.mem.writeBigUInt64LE(name, i * MMSG);
      this.mem.writeBigUInt64LE(base + BigInt(inIov + i * 16), i * MMSG + 16);
      this.mem.writeBigUInt64LE(1n, i * MMSG + 24);
      this.mem.writeBigUInt64LE(inAt + BigInt(i * IN_SLOT), inIov + i * 16);
      this.mem.writeBigUInt64LE(BigInt(IN_SLOT), inIov + i * 16 + 8);
      this.mem.writeBigUInt64LE(outAt + BigInt(i * OUT_SLOT), outIov + i * 16);
      this.mem.writeBigUInt64LE(1n, sendAt + i * MMSG + 24);
    }
  }

  /** Answers what the socket holds, up to one batch: the queries taken (0: none waiting), or -1 on an error other than EAGAIN. */
  serveBatch(): number {
    const mem = this.mem;
    for (let i = 0; i < SLOTS; i++) mem.writeUInt32LE(NAME, i * MMSG + 8);
    const n = libc.recvmmsg(this.fd, mem, SLOTS, MSG_DONTWAIT, null) as number;
    if (n <= 0) return n < 0 && libc.errno() !== EAGAIN ? -1 : 0;
    let out = 0;
    for (let i = 0; i < n; i++) {
      const len = mem.readUInt32LE(i * MMSG + 56);
      if (mem.readInt32LE(i * MMSG + 48) & MSG_TRUNC) continue;
      const query = this.inBuf.subarray(i * IN_SLOT, i * IN_SLOT + len);
      let written: number | Promise<Buffer | undefined>;
      try {
        written = this.handler.handleInto(query, this.client(i), this.outBuf, i * OUT_SLOT);
      } catch (err) {
        this.failed(err);
        continue;
      }
      if (typeof written !== 'number') {
        this.later(written, i);
        continue;
      }
      if (written === 0) continue;
      const at = SLOTS * MMSG + out * MMSG;
      mem.writeBigUInt64LE(this.namePtr[i] as bigint, at);
      mem.writeUInt32LE(mem.readUInt32LE(i * MMSG + 8), at + 8);
      mem.writeBigUInt64LE(this.outIovPtr[i] as bigint, at + 16);
      mem.writeUInt32LE(written, 2 * SLOTS * MMSG + SLOTS * 16 + i * 16 + 8);
      out++;
    }
    this.send(out);
    return n;
  }

  /** sendmmsg until the batch is out; a message the kernel refuses is dropped (UDP: the client asks again). */
  private send(count: number): void {
    const sendMem = this.mem.subarray(SLOTS * MMSG);
    for (let done = 0; done < count;) {
      const sent = libc.sendmmsg(this.fd, done === 0 ? sendMem : sendMem.subarray(done * MMSG), count - done, 0) as number;
      done += sent > 0 ? sent : 1;
    }
  }

  /** A forwarded question: its answer goes out on its own when the upstream replies, to the address copied now. */
  private later(reply: Promise<Buffer | undefined>, slot: number): void {
    const namelen = this.mem.readUInt32LE(slot * MMSG + 8);
    const name = Buffer.from(this.mem.subarray(this.nameAt + slot * NAME, this.nameAt + slot * NAME + namelen));
    reply.then(
      (r) => r && libc.sendto(this.fd, r, r.length, 0, name, namelen),
      (err: unknown) => this.failed(err),
    );
  }

  /** The sender as the handler sees it (dgram's text form); the last IPv4 sender's object is reused. */
  private client(slot: number): Client {
    const at = this.nameAt + slot * NAME;
    const family = this.mem.readUInt16LE(at);
    if (family === AF_INET) {
      const v4 = this.mem.readUInt32BE(at + 4);
      if (v4 !== this.lastV4) {
        this.lastV4 = v4;
        this.lastClient = { address: `${v4 >>> 24}.${(v4 >> 16) & 255}.${(v4 >> 8) & 255}.${v4 & 255}`, transport: 'udp' };
      }
      return this.lastClient;
    }
    if (family !== AF_INET6) return { address: '', transport: 'udp' };
    const hi = this.mem.readBigUInt64BE(at + 8);
    const lo = this.mem.readBigUInt64BE(at + 16);
    // An IPv4 client of a dual-stack socket, as dgram shows it: ::ffff:a.b.c.d.
    if (hi === 0n && lo >> 32n === 0xffffn) return { address: `::ffff:${ipFromValue(4, lo & 0xffff_ffffn).text}`, transport: 'udp' };
    return { address: ipFromValue(6, (hi << 64n) | lo).text, transport: 'udp' };
  }
}
