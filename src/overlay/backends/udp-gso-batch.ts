/** Linux's UDP_MAX_SEGMENTS before 6.9 raised it, and the largest UDP payload IPv4 carries. */
const MAX_SEGMENTS = 64;
const MAX_PAYLOAD = 65507;

/** One UDP_SEGMENT send: `count` datagrams of `size` bytes (the last may be shorter) in buf[0, length). */
export type GsoSend = (dst: Buffer, buf: Buffer, length: number, size: number, count: number) => void;

/**
 * Gathers consecutive packets bound for the same peer into one UDP GSO send,
 * as UDP_SEGMENT needs them: all the same size but the last, which may be
 * shorter and closes the batch, at most 64 of them and 64 KB in all. A TSO
 * super-packet's segments fill one batch; MTU-sized packets read one by one
 * (no TSO from the pods) fill one too, so the kernel's UDP and IP layers run
 * once per batch instead of once per packet.
 */
export class GsoBatch {
  private readonly buf = Buffer.alloc(MAX_PAYLOAD);
  private dst: Buffer | undefined;
  private size = 0;
  private count = 0;
  private length = 0;

  constructor(private readonly send: GsoSend) {}

  add(dst: Buffer, src: Buffer, start: number, end: number): void {
    const len = end - start;
    if (this.count > 0 && (dst !== this.dst || len > this.size || this.count === MAX_SEGMENTS || this.length + len > MAX_PAYLOAD))
      this.flush();
    if (this.count === 0) {
      this.dst = dst;
      this.size = len;
    }
    src.copy(this.buf, this.length, start, end);
    this.length += len;
    this.count++;
    if (len < this.size) this.flush();
  }

  flush(): void {
    if (this.count > 0 && this.dst) this.send(this.dst, this.buf, this.length, this.size, this.count);
    this.count = 0;
    this.length = 0;
  }
}
