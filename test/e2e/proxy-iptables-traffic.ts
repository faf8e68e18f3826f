import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * Real TCP/UDP servers and clients for the proxy suites, run with Node
 * inside network namespaces: each server answers with its own name (on
 * IPv4 and IPv6), each
 * client run makes N bounded attempts and reports who answered.
 */
const SERVER = `
import net from 'node:net'; import dgram from 'node:dgram';
const [name, tcp, udp, peer] = process.argv.slice(2);
// With "peer", the answer also names the address the connection came from (is it SNATed?).
const answer = (from) => (peer === 'peer' ? name + ' from ' + from : name);
// IPv4 and IPv6 on separate sockets (ipv6Only), so an IPv4 peer reads as a plain dotted quad.
let up = 0; const ready = () => { if (++up === 4) console.log('ready'); };
const onConn = (s) => { s.on('error', () => {}); s.end(answer(s.remoteAddress) + '\\n'); };
net.createServer(onConn).listen(Number(tcp), '0.0.0.0', ready);
net.createServer(onConn).listen({ port: Number(tcp), host: '::', ipv6Only: true }, ready);
for (const type of ['udp4', 'udp6']) {
  const u = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  u.on('message', (m, r) => u.send(answer(r.address), r.port, r.address));
  u.bind(Number(udp), type === 'udp4' ? '0.0.0.0' : '::', ready);
}
`;

const CLIENT = `
import net from 'node:net'; import dgram from 'node:dgram';
const [host, port, proto, count, sport] = process.argv.slice(2);
const out = { answers: {}, errors: {} };
const add = (m, k) => { m[k] = (m[k] ?? 0) + 1; };
const tcp = () => new Promise((res) => {
  let data = ''; const s = net.connect({ host, port: Number(port), timeout: 3000 });
  s.on('data', (d) => { data += d; }); s.on('end', () => { add(out.answers, data.trim()); res(); });
  s.on('timeout', () => { add(out.errors, 'ETIMEDOUT'); s.destroy(); res(); });
  s.on('error', (e) => { add(out.errors, e.code ?? 'error'); res(); });
});
const udp = () => new Promise((res) => {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4'); const t = setTimeout(() => { add(out.errors, 'ETIMEDOUT'); s.close(); res(); }, 2000);
  s.on('message', (m) => { clearTimeout(t); add(out.answers, m.toString()); s.close(); res(); });
  s.on('error', (e) => { clearTimeout(t); add(out.errors, e.code ?? 'error'); s.close(); res(); });
  s.bind(sport ? Number(sport) : 0, () => s.send('x', Number(port), host));
});
for (let i = 0; i < Number(count); i++) await (proto === 'udp' ? udp() : tcp());
console.log(JSON.stringify(out));
`;

export interface Tally {
  answers: Record<string, number>;
  errors: Record<string, number>;
}

export class Traffic {
  private readonly server: string;
  private readonly client: string;
  private readonly procs: { pid: number | undefined; done: Promise<unknown> }[] = [];

  // The scripts are written when first needed, not here: a file whose tests are all skipped or
  // filtered out (vitest -t) builds its lab but runs no afterAll, which would leave them in /tmp.
  constructor(run: string) {
    this.server = join(tmpdir(), `kp-${run}-server.mjs`);
    this.client = join(tmpdir(), `kp-${run}-client.mjs`);
  }

  private script(path: string, text: string): string {
    if (!existsSync(path)) writeFileSync(path, text);
    return path;
  }

  /** Starts a server answering `name` (with `peer`: "name from <client address>") on TCP and UDP; resolves once both listen. */
  async serve(ns: string, name: string, tcpPort: number, udpPort: number, opts: { peer?: boolean } = {}): Promise<void> {
    const args = [this.script(this.server, SERVER), name, String(tcpPort), String(udpPort), ...(opts.peer ? ['peer'] : [])];
    const p = execa('ip', ['netns', 'exec', ns, process.execPath, ...args], { reject: false });
    this.procs.push({ pid: p.pid, done: p });
    await new Promise<void>((resolve, reject) => {
      p.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
      void p.then((r) => reject(new Error(`server ${name} exited: ${String(r.stderr)}`)));
    });
  }

  async call(ns: string, host: string, port: number, proto: 'tcp' | 'udp', count: number, sport?: number): Promise<Tally> {
    const args = [this.script(this.client, CLIENT), host, String(port), proto, String(count), ...(sport ? [String(sport)] : [])];
    const res = await execa('ip', ['netns', 'exec', ns, process.execPath, ...args]);
    return JSON.parse(res.stdout) as Tally;
  }

  /** Kills the servers this object started, by PID, and removes its scripts. */
  async stop(): Promise<void> {
    rmSync(this.server, { force: true });
    rmSync(this.client, { force: true });
    for (const p of this.procs) {
      if (p.pid !== undefined) {
        try {
          process.kill(p.pid, 'SIGTERM');
        } catch {
          /* already gone */
        }
      }
      await p.done;
    }
  }
}
