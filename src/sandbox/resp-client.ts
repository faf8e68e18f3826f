import { createConnection } from 'node:net';

/**
 * One redis command over its own connection (RESP: an array of bulk
 * strings out; a status, error, integer or bulk reply back). Enough for
 * the guestbook's SET and GET, so it needs no client library; a `-ERR`
 * reply or a connection failure rejects.
 */
export function respCommand(host: string, port: number, args: readonly string[], timeoutMs = 3_000): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port, timeout: timeoutMs });
    let buf = Buffer.alloc(0);
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.once('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const reply = parseReply(buf);
      if (reply === undefined) return;
      socket.end();
      if (reply instanceof Error) reject(reply);
      else resolve(reply);
    });
    socket.once('timeout', () => fail(new Error(`redis ${host}:${port}: no reply in ${timeoutMs} ms`)));
    socket.once('error', (err) => fail(new Error(`redis ${host}:${port}: ${err.message}`)));
  });
}

export function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** One complete reply, or undefined while more bytes are needed; a nil bulk string is null. */
export function parseReply(buf: Buffer): string | null | Error | undefined {
  const eol = buf.indexOf('\r\n');
  if (eol < 0) return undefined;
  const head = buf.subarray(1, eol).toString('utf8');
  switch (String.fromCharCode(buf[0] ?? 0)) {
    case '+':
    case ':':
      return head;
    case '-':
      return new Error(`redis: ${head}`);
    case '$': {
      const len = Number(head);
      if (len < 0) return null;
      if (buf.length < eol + 2 + len + 2) return undefined;
      return buf.subarray(eol + 2, eol + 2 + len).toString('utf8');
    }
    default:
      return new Error(`redis: unexpected reply ${JSON.stringify(buf.subarray(0, eol).toString('utf8'))}`);
  }
}
