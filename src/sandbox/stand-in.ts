import { createServer as createHttpServer } from 'node:http';
import { createConnection, createServer, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { resolve4 } from 'node:dns/promises';

/**
 * Built-in stand-ins for container images the sandbox has no program for
 * (it runs processes, not images; see container-program.ts for when Debian's
 * nginx or redis-server runs instead). Each listens on the container's ports:
 * - `http`: answers every request with `<pod name>\n` (for httpd, tomcat,
 *   and nginx where it is not installed).
 * - `redis`: a RESP-speaking key/value store (PING, ECHO, SET, GET, DEL,
 *   INFO); a `--replica-of` stand-in (redis-slave) pings its master,
 *   found through `REDIS_MASTER_SERVICE_HOST` when GET_HOSTS_FROM=env,
 *   else through DNS (`redis-master`), and reports the link in INFO.
 * - `echo`: a TCP echo (any other image that declares ports).
 * - `pause`: does nothing until stopped (an image without ports).
 */
export type StandInKind = 'http' | 'redis' | 'echo' | 'pause';

/** Which stand-in an image gets, by the image's name. */
export function standInFor(image: string | undefined, hasPorts: boolean): { kind: StandInKind; replicaOf?: string; defaultPort?: number } {
  const name = (image ?? '').split('/').pop()?.split(':')[0]?.split('@')[0] ?? '';
  if (/redis/.test(name))
    return /slave|replica/.test(name)
      ? { kind: 'redis', replicaOf: 'redis-master', defaultPort: 6379 }
      : { kind: 'redis', defaultPort: 6379 };
  if (/nginx|httpd|apache|tomcat|frontend|php|http|web/.test(name)) return { kind: 'http', defaultPort: 80 };
  return hasPorts ? { kind: 'echo' } : { kind: 'pause' };
}

function main(argv: string[]): void {
  const kind = argv[0] as StandInKind;
  const ports = flagValues(argv, '--port').map(Number);
  const podName = process.env.POD_NAME ?? 'pod';
  switch (kind) {
    case 'http':
      for (const port of ports) {
        createHttpServer((req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(`${podName}\n`);
        }).listen(port);
      }
      break;
    case 'redis':
      startRedis(ports, flagValues(argv, '--replica-of')[0]);
      break;
    case 'echo':
      for (const port of ports) createServer((s) => s.pipe(s)).listen(port);
      break;
    case 'pause':
      setInterval(() => undefined, 1 << 30);
      break;
    default:
      process.stderr.write(`stand-in: unknown kind ${String(kind)}\n`);
      process.exit(2);
  }
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write(`stand-in ${kind} for ${podName} on ${ports.join(',') || 'no ports'}\n`);
}

function flagValues(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag && argv[i + 1] !== undefined ? [argv[i + 1] as string] : []));
}

function startRedis(ports: number[], replicaOf: string | undefined): void {
  const data = new Map<string, string>();
  const link = { host: '', status: replicaOf ? 'down' : 'n/a' };
  const info = (): string =>
    replicaOf
      ? `# Replication\r\nrole:slave\r\nmaster_host:${link.host}\r\nmaster_port:6379\r\nmaster_link_status:${link.status}\r\n`
      : '# Replication\r\nrole:master\r\n';
  const handle = (cmd: string[]): string => {
    const [name = '', ...args] = cmd;
    switch (name.toUpperCase()) {
      case 'PING':
        return args[0] === undefined ? '+PONG\r\n' : bulk(args[0]);
      case 'ECHO':
        return bulk(args[0] ?? '');
      case 'SET':
        data.set(args[0] ?? '', args[1] ?? '');
        return '+OK\r\n';
      case 'GET':
        return data.has(args[0] ?? '') ? bulk(data.get(args[0] ?? '') as string) : '$-1\r\n';
      case 'DEL':
        return `:${args.filter((k) => data.delete(k)).length}\r\n`;
      case 'INFO':
        return bulk(info());
      default:
        return `-ERR unknown command '${name}'\r\n`;
    }
  };
  for (const port of ports) createServer((s) => serveResp(s, handle)).listen(port);
  if (replicaOf) void followMaster(replicaOf, link);
}

async function followMaster(service: string, link: { host: string; status: string }): Promise<void> {
  for (;;) {
    try {
      link.host =
        process.env.GET_HOSTS_FROM === 'env'
          ? (process.env[`${service.toUpperCase().replace(/-/g, '_')}_SERVICE_HOST`] ?? '')
          : ((await resolve4(service))[0] ?? '');
      const pong = link.host ? await ping(link.host, 6379) : false;
      if (pong && link.status !== 'up') process.stdout.write(`master ${service} at ${link.host}: link up\n`);
      link.status = pong ? 'up' : 'down';
    } catch {
      link.status = 'down';
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

function ping(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port, timeout: 1_000 });
    s.once('connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
    s.once('data', (d) => {
      resolve(d.toString().startsWith('+PONG'));
      s.destroy();
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      resolve(false);
      s.destroy();
    });
  });
}

function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

/** RESP arrays of bulk strings, or inline commands (`PING` typed into nc). */
function serveResp(socket: Socket, handle: (cmd: string[]) => string): void {
  let buf = '';
  socket.on('error', () => undefined);
  socket.on('data', (d) => {
    buf += d.toString('utf8');
    for (;;) {
      const parsed = parseCommand(buf);
      if (!parsed) break;
      buf = buf.slice(parsed.used);
      if (parsed.cmd.length) socket.write(handle(parsed.cmd));
    }
  });
}

function parseCommand(buf: string): { cmd: string[]; used: number } | undefined {
  if (!buf.startsWith('*')) {
    const eol = buf.indexOf('\n');
    return eol < 0 ? undefined : { cmd: buf.slice(0, eol).trim().split(/\s+/).filter(Boolean), used: eol + 1 };
  }
  let pos = buf.indexOf('\r\n');
  if (pos < 0) return undefined;
  const n = Number(buf.slice(1, pos));
  pos += 2;
  const cmd: string[] = [];
  for (let i = 0; i < n; i++) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return undefined;
    const len = Number(buf.slice(pos + 1, eol));
    if (buf.length < eol + 2 + len + 2) return undefined;
    cmd.push(buf.slice(eol + 2, eol + 2 + len));
    pos = eol + 2 + len + 2;
  }
  return { cmd, used: pos };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
