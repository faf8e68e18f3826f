import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/*
 * Address plan (every address lives only inside this run's namespaces):
 *   ku-<run>-node  bridge kub<run> 10.244.1.1/24 (the node's cni0), eth0 172.30.77.2/24, default via .100
 *   ku-<run>-pa    pod A 10.244.1.11   ku-<run>-pb  pod B 10.244.1.12   ku-<run>-pc  client pod 10.244.1.10
 *   ku-<run>-ext   an outside host 172.30.77.100/24, external IP 172.30.77.50 routed via the node
 * Services: 10.96.0.0/12. Backends listen on TCP 8080 (say their name, then echo) and UDP 5353.
 */
export const NODE_IP = '172.30.77.2';
const EXT_IP = '172.30.77.100';
export const EXTERNAL_IP = '172.30.77.50';
export const POD_IPS = { pa: '10.244.1.11', pb: '10.244.1.12', pc: '10.244.1.10' } as const;

/** The repository root (the first directory up with node_modules), from source or from dist/. */
const ROOT = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'node_modules')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/** A backend: TCP says its name on a line then echoes until the client's FIN; UDP answers "name:payload". */
const BACKEND_JS = `
import net from 'node:net'; import dgram from 'node:dgram';
const [name, tcpPort, udpPort] = process.argv.slice(2);
const srv = net.createServer({ allowHalfOpen: true }, (s) => { s.setNoDelay(true); s.write(name + '\\n'); s.pipe(s); s.on('error', () => {}); });
srv.listen({ port: Number(tcpPort), backlog: 4096 });
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(name + ':' + m, r.port, r.address));
u.bind(Number(udpPort), () => srv.listening ? console.log('ready') : srv.once('listening', () => console.log('ready')));
`;

/** Client modes, each printing one JSON line: names, udp, big, concurrent. */
const CLIENT_JS = `
import net from 'node:net'; import dgram from 'node:dgram'; import { createHash, randomBytes } from 'node:crypto';
const [mode, host, portText, countText] = process.argv.slice(2); const port = Number(portText); const count = Number(countText);
function exchange(payload) { return new Promise((resolve, reject) => {
  const c = net.connect({ host, port, allowHalfOpen: true }); const chunks = [];
  c.on('connect', () => c.end(payload)); c.on('data', (d) => chunks.push(d)); c.on('error', reject);
  c.on('end', () => resolve(Buffer.concat(chunks))); }); }
const nameOf = (b) => b.subarray(0, b.indexOf(10)).toString();
if (mode === 'names') { const out = []; for (let i = 0; i < count; i++) out.push(nameOf(await exchange(''))); console.log(JSON.stringify(out)); }
if (mode === 'udp') { const out = []; for (let i = 0; i < count; i++) { const s = dgram.createSocket('udp4');
  out.push(await new Promise((r) => { s.once('message', (m) => r(m.toString())); s.send('q' + i, port, host); })); s.close(); }
  console.log(JSON.stringify(out)); }
if (mode === 'big') { const mb = count; const sent = createHash('sha256'); const got = createHash('sha256'); let first = true; let gotBytes = 0;
  await new Promise((resolve, reject) => { const c = net.connect({ host, port, allowHalfOpen: true });
    c.on('data', (d) => { if (first) { const i = d.indexOf(10); d = d.subarray(i + 1); first = false; } gotBytes += d.length; got.update(d); });
    c.on('end', resolve); c.on('error', reject);
    c.on('connect', async () => { const block = randomBytes(1 << 20);
      for (let i = 0; i < mb; i++) { block.writeUInt32LE(i, 0); sent.update(block); if (!c.write(Buffer.from(block))) await new Promise((r) => c.once('drain', r)); }
      c.end(); }); });
  console.log(JSON.stringify({ sent: sent.digest('hex'), got: got.digest('hex'), gotBytes })); }
if (mode === 'concurrent') { const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => exchange('c' + i)));
  const ok = results.filter((r, i) => r.status === 'fulfilled' && r.value.toString().endsWith('\\nc' + i)).length;
  console.log(JSON.stringify({ ok, failed: count - ok })); }
`;

export class UserspaceLab {
  readonly run = randomBytes(2).toString('hex');
  readonly dir = join(ROOT, 'node_modules', '.cache', `keel-ku-${this.run}`);
  private readonly made: string[] = [];
  private readonly procs: ChildProcess[] = [];

  ns(role: 'node' | 'pa' | 'pb' | 'pc' | 'ext'): string {
    return `ku-${this.run}-${role}`;
  }

  async build(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, 'backend.mjs'), BACKEND_JS);
    writeFileSync(join(this.dir, 'client.mjs'), CLIENT_JS);
    // The native relay's worker beside node.mjs, where the bundle's import.meta.url looks for it.
    for (const [entry, out] of [
      ['test/e2e/proxy-userspace-node.ts', 'node.mjs'],
      ['src/proxy-userspace/native-relay-worker.ts', 'native-relay-worker.js'],
    ] as const) {
      await execa(join(ROOT, 'node_modules/.bin/esbuild'), [
        join(ROOT, entry),
        '--bundle',
        '--platform=node',
        '--format=esm',
        '--packages=external',
        `--outfile=${join(this.dir, out)}`,
        '--log-level=warning',
      ]);
    }
    for (const role of ['node', 'pa', 'pb', 'pc', 'ext'] as const) {
      await execa('ip', ['netns', 'add', this.ns(role)]);
      this.made.push(this.ns(role));
      await this.exec(role, 'ip', ['link', 'set', 'lo', 'up']);
    }
    const node = this.ns('node');
    const br = `kub${this.run}`;
    await this.exec('node', 'ip', ['link', 'add', br, 'type', 'bridge']);
    await this.exec('node', 'ip', ['addr', 'add', '10.244.1.1/24', 'dev', br]);
    await this.exec('node', 'ip', ['link', 'set', br, 'up']);
    for (const pod of ['pa', 'pb', 'pc'] as const) {
      const host = `ku${pod}${this.run}`;
      await execa('ip', ['link', 'add', host, 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns(pod)]);
      await this.exec('node', 'ip', ['link', 'set', host, 'master', br, 'up']);
      await this.exec(pod, 'ip', ['addr', 'add', `${POD_IPS[pod]}/24`, 'dev', 'eth0']);
      await this.exec(pod, 'ip', ['link', 'set', 'eth0', 'up']);
      await this.exec(pod, 'ip', ['route', 'add', 'default', 'via', '10.244.1.1']);
    }
    await execa('ip', ['link', 'add', 'eth0', 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns('ext')]);
    await this.exec('node', 'ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0']);
    await this.exec('node', 'ip', ['link', 'set', 'eth0', 'up']);
    await this.exec('node', 'ip', ['route', 'add', 'default', 'via', EXT_IP]);
    await this.exec('ext', 'ip', ['addr', 'add', `${EXT_IP}/24`, 'dev', 'eth0']);
    await this.exec('ext', 'ip', ['link', 'set', 'eth0', 'up']);
    await this.exec('ext', 'ip', ['route', 'add', `${EXTERNAL_IP}/32`, 'via', NODE_IP]);
  }

  exec(role: 'node' | 'pa' | 'pb' | 'pc' | 'ext', cmd: string, args: string[], input?: string): Promise<string> {
    return execa('ip', ['netns', 'exec', this.ns(role), cmd, ...args], input === undefined ? {} : { input }).then((r) => r.stdout);
  }

  /** Runs a client mode in a namespace and returns its JSON answer. */
  async client<T>(
    role: 'node' | 'pc' | 'ext',
    mode: 'names' | 'udp' | 'big' | 'concurrent',
    host: string,
    port: number,
    count: number,
  ): Promise<T> {
    return JSON.parse(await this.exec(role, 'node', [join(this.dir, 'client.mjs'), mode, host, String(port), String(count)])) as T;
  }

  /** Starts a backend in a pod and resolves once it listens. */
  async backend(role: 'pa' | 'pb', name: string): Promise<ChildProcess> {
    const p = this.spawn(role, 'node', [join(this.dir, 'backend.mjs'), name, '8080', '5353']);
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: p.stdout as NodeJS.ReadableStream }).once('line', () => resolve());
      p.once('exit', (code) => reject(new Error(`backend ${name} exited with ${code}`)));
    });
    return p;
  }

  spawn(role: 'node' | 'pa' | 'pb' | 'pc' | 'ext', cmd: string, args: string[]): ChildProcess {
    // `ip netns exec` execs in place, so the PID is the command's own.
    const p = spawn('ip', ['netns', 'exec', this.ns(role), cmd, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.procs.push(p);
    return p;
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null && p.pid !== undefined) p.kill('SIGKILL');
    for (const ns of this.made.reverse()) await execa('ip', ['netns', 'del', ns], { reject: false });
    this.made.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The test-only node process: a UserspaceProxier inside the node namespace, fed manifests as JSON lines. */
export class ProxyNode {
  private readonly lines: AsyncIterator<string>;

  constructor(readonly proc: ChildProcess) {
    this.lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  }

  static start(lab: UserspaceLab, extraArgs: string[] = []): ProxyNode {
    return new ProxyNode(lab.spawn('node', 'node', [join(lab.dir, 'node.mjs'), '--node-ip', NODE_IP, ...extraArgs]));
  }

  private async ask(msg: object): Promise<Record<string, unknown>> {
    (this.proc.stdin as NodeJS.WritableStream).write(`${JSON.stringify(msg)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error('proxy node exited');
    const reply = JSON.parse(next.value) as Record<string, unknown>;
    if (typeof reply.error === 'string') throw new Error(reply.error);
    return reply;
  }

  /** Syncs the proxier to exactly these objects; returns service port → proxy port. */
  async sync(objects: object[]): Promise<Record<string, number>> {
    return (await this.ask({ sync: objects })).ports as Record<string, number>;
  }

  async metrics(): Promise<string> {
    return (await this.ask({ metrics: true })).metrics as string;
  }

  /** Stops the proxier (rules removed) and waits for the process to exit. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    (this.proc.stdin as NodeJS.WritableStream).end();
    await exited;
  }
}
