import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { respCommand } from './resp-client.js';

/**
 * Seed 000's guestbook frontend (kubeguide/guestbook-php-frontend) as a
 * Node program the sandbox runs in the pod (Debian packages no such
 * image). `/guestbook.php` answers as guestbook.php does:
 * `cmd=set&key=K&value=V` writes to redis-master and prints
 * `{"message": "Updated"}`; any other cmd reads K from redis-slave and
 * prints `{"data": "V"}`. The hosts are found as the PHP finds them:
 * $REDIS_MASTER_SERVICE_HOST / $REDIS_SLAVE_SERVICE_HOST with
 * GET_HOSTS_FROM=env, else the DNS names. `/` is the page: the message
 * list (comma-separated in `messages`, as the seed's JavaScript keeps it)
 * and a form that appends to it.
 */
export function redisHosts(env: NodeJS.ProcessEnv): { master: string; slave: string } {
  return env.GET_HOSTS_FROM === 'env'
    ? { master: env.REDIS_MASTER_SERVICE_HOST ?? '', slave: env.REDIS_SLAVE_SERVICE_HOST ?? '' }
    : { master: 'redis-master', slave: 'redis-slave' };
}

/**
 * The PHP prints `'{"data": "' . $value . '"}'`, which is not JSON once a
 * message holds a quote; this prints the same shape with the value
 * escaped, so both agree on every value the seed's page can write.
 */
export function dataJson(value: string | null): string {
  return `{"data": ${JSON.stringify(value ?? '')}}`;
}

export function guestbookPage(messages: readonly string[], pod: string): string {
  const items = messages.map((m) => `      <li>${escapeHtml(m)}</li>\n`).join('');
  return `<!doctype html>
<html>
  <head><meta charset="utf-8"><title>Guestbook</title></head>
  <body>
    <h1>Guestbook</h1>
    <form id="guestbook">
      <input name="msg" placeholder="Messages" autofocus>
      <button type="submit">Submit</button>
    </form>
    <ul id="messages">
${items}    </ul>
    <p><small>served by ${escapeHtml(pod)}</small></p>
    <script>
      document.getElementById('guestbook').addEventListener('submit', async (e) => {
        e.preventDefault();
        const msg = e.target.msg.value;
        if (!msg) return;
        const got = await (await fetch('guestbook.php?cmd=get&key=messages')).json();
        const value = got.data ? got.data + ',' + msg : msg;
        await fetch('guestbook.php?cmd=set&key=messages&value=' + encodeURIComponent(value));
        location.reload();
      });
    </script>
  </body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function main(argv: string[]): void {
  const ports = argv.flatMap((a, i) => (a === '--port' && argv[i + 1] ? [Number(argv[i + 1])] : []));
  const pod = process.env.POD_NAME ?? 'frontend';
  const reply = (res: ServerResponse, status: number, type: string, body: string): void => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://frontend');
    const q = url.searchParams;
    const hosts = redisHosts(process.env);
    const cmd = q.get('cmd');
    const key = q.get('key') ?? '';
    const done =
      url.pathname === '/guestbook.php' && cmd !== null
        ? cmd === 'set'
          ? respCommand(hosts.master, 6379, ['SET', key, q.get('value') ?? '']).then(() =>
              reply(res, 200, 'application/json', '{"message": "Updated"}'),
            )
          : respCommand(hosts.slave, 6379, ['GET', key]).then((v) => reply(res, 200, 'application/json', dataJson(v)))
        : url.pathname === '/' || url.pathname === '/index.html' || url.pathname === '/guestbook.php'
          ? respCommand(hosts.slave, 6379, ['GET', 'messages']).then((v) =>
              reply(res, 200, 'text/html; charset=utf-8', guestbookPage(v ? v.split(',') : [], pod)),
            )
          : Promise.resolve(reply(res, 404, 'text/plain', 'not found\n'));
    done.catch((err: unknown) => {
      process.stderr.write(`${req.url ?? ''}: ${String(err)}\n`);
      reply(res, 500, 'text/plain', `${String(err)}\n`);
    });
  };
  for (const port of ports.length ? ports : [80]) createServer(handle).listen(port);
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write(`guestbook frontend for ${pod} on ${ports.join(',') || '80'}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
