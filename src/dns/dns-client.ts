import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type DecodedPacket, type Packet } from 'dns-packet';

/**
 * A minimal DNS client over UDP or TCP, for tests and the benchmark's
 * sanity checks (the real clients, dig and glibc, are used end to end).
 */
export async function exchange(
  server: { host: string; port: number },
  msg: Buffer,
  transport: 'udp' | 'tcp',
  timeoutMs = 2000,
): Promise<Buffer> {
  if (transport === 'udp') {
    const sock = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no udp reply from ${server.host}:${server.port}`)), timeoutMs);
        sock.on('message', (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        sock.send(msg, server.port, server.host);
      });
    } finally {
      sock.close();
    }
  }
  const sock = net.connect(server);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no tcp reply from ${server.host}:${server.port}`)), timeoutMs);
      let buf = Buffer.alloc(0);
      sock.on('error', reject);
      sock.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(timer);
          resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        }
      });
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(msg.length);
      sock.write(Buffer.concat([len, msg]));
    });
  } finally {
    sock.destroy();
  }
}

export interface QueryOptions {
  transport?: 'udp' | 'tcp';
  /** Advertise EDNS0 with this UDP payload size. */
  edns?: number;
  id?: number;
}

export function encodeQuery(name: string, type: string, opts: QueryOptions = {}): Buffer {
  const packet: Packet = {
    type: 'query',
    id: opts.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as 'A', class: 'IN' }],
  };
  if (opts.edns !== undefined)
    packet.additionals = [
      { type: 'OPT', name: '.', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] },
    ];
  return dnsPacket.encode(packet);
}

export async function query(
  server: { host: string; port: number },
  name: string,
  type: string,
  opts: QueryOptions = {},
): Promise<DecodedPacket & { rcode?: string }> {
  return decodeReply(await exchange(server, encodeQuery(name, type, opts), opts.transport ?? 'udp'));
}

/** dns-packet's decoder also reports the rcode, which its type declarations leave out. */
export function decodeReply(reply: Buffer): DecodedPacket & { rcode?: string } {
  return dnsPacket.decode(reply) as DecodedPacket & { rcode?: string };
}
