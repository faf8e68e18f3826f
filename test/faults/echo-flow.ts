/**
 * A long-lived TCP connection that exchanges a numbered line with an echo
 * server every interval, to show that an established flow survives a fault:
 * the client prints each echo with its own arrival time (the test process may
 * be too busy to timestamp promptly) and, when
 * told to stop, how many lines it sent and got back, in order.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

const SERVER = `
import net from 'node:net';
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(Number(process.argv[2]), '0.0.0.0', () => console.log('ready'));
`;

// Bounded by its line count; stdin closing (or the count reached) ends it with a summary.
const CLIENT = `
import net from 'node:net';
const [host, port, intervalMs, max] = process.argv.slice(2);
let sent = 0, echoed = 0, buf = '', error, done = false, timer;
const s = net.connect({ host, port: Number(port) });
s.setNoDelay(true);
s.on('connect', () => {
  console.log('connected');
  timer = setInterval(() => { if (sent < Number(max)) s.write(++sent + '\\n'); else finish(); }, Number(intervalMs));
});
s.on('data', (d) => {
  buf += d;
  for (let i = buf.indexOf('\\n'); i >= 0; i = buf.indexOf('\\n')) {
    const n = Number(buf.slice(0, i));
    buf = buf.slice(i + 1);
    if (n !== echoed + 1) { error ??= 'out of order: ' + n; continue; }
    echoed++;
    console.log('echo ' + n + ' ' + Date.now());
  }
});
s.on('error', (e) => { error ??= e.code ?? String(e); finish(); });
s.on('close', () => finish());
process.stdin.on('end', () => finish());
process.stdin.resume();
function finish() {
  if (done) return;
  done = true;
  clearInterval(timer);
  const deadline = Date.now() + 3000;
  const report = () => {
    if (echoed < sent && !error && !s.destroyed && Date.now() < deadline) return setTimeout(report, 20);
    console.log(JSON.stringify({ sent, echoed, error: error ?? null }));
    s.destroy();
    process.exit(0);
  };
  report();
}
`;

export interface FlowSummary {
  sent: number;
  echoed: number;
  error: string | null;
}

const spawnIn = (ns: string, script: string, args: string[]) =>
  execa('ip', ['netns', 'exec', ns, process.execPath, script, ...args], { reject: false, stdin: 'pipe', buffer: false });
type FlowChild = ReturnType<typeof spawnIn>;

/** Resolves when the child prints `word`, rejects if it exits first. */
function waitFor(child: FlowChild, word: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes(word)) resolve();
    });
    void child.then((r) => reject(new Error(`exited before "${word}": ${String(r.stderr ?? '')}`)));
  });
}

export class EchoFlow {
  private readonly serverJs: string;
  private readonly clientJs: string;
  private server: FlowChild | undefined;
  private client: FlowChild | undefined;
  private out = '';
  /** Arrival time (ms since epoch) of every echo on the long-lived connection. */
  readonly echoes: number[] = [];

  /** Writes the scripts into `dir`, which the caller removes. */
  constructor(dir: string) {
    this.serverJs = join(dir, 'echo-server.mjs');
    this.clientJs = join(dir, 'echo-client.mjs');
    writeFileSync(this.serverJs, SERVER);
    writeFileSync(this.clientJs, CLIENT);
  }

  async serve(ns: string, port: number): Promise<void> {
    this.server = spawnIn(ns, this.serverJs, [String(port)]);
    await waitFor(this.server, 'ready');
  }

  /** Opens the long-lived connection: a line every `intervalMs`, at most `max` lines. */
  async open(ns: string, host: string, port: number, intervalMs: number, max: number): Promise<void> {
    const client = spawnIn(ns, this.clientJs, [host, String(port), String(intervalMs), String(max)]);
    this.client = client;
    let seen = 0;
    client.stdout?.on('data', (d: Buffer) => {
      this.out += d.toString();
      const lines = this.out.split('\n').slice(0, -1);
      for (const line of lines.slice(seen)) {
        const at = /^echo \d+ (\d+)$/.exec(line)?.[1];
        if (at) this.echoes.push(Number(at));
      }
      seen = lines.length;
    });
    await waitFor(client, 'connected');
  }

  echoedBetween(from: number, to: number): number {
    return this.echoes.filter((t) => t >= from && t <= to).length;
  }

  /** Longest time between two echoes (ms). */
  longestPause(): number {
    let max = 0;
    for (let i = 1; i < this.echoes.length; i++) max = Math.max(max, (this.echoes[i] ?? 0) - (this.echoes[i - 1] ?? 0));
    return max;
  }

  /** Ends the long-lived connection after the outstanding echoes (3 s at most) and returns its counts. */
  async close(): Promise<FlowSummary> {
    const client = this.client;
    if (!client) throw new Error('no open flow');
    client.stdin?.end();
    await client;
    this.client = undefined;
    return summaryOf(this.out);
  }

  /** A new connection exchanging one line: whether the service answers now. */
  async probe(ns: string, host: string, port: number): Promise<FlowSummary> {
    const res = await execa('ip', ['netns', 'exec', ns, process.execPath, this.clientJs, host, String(port), '50', '1'], {
      reject: false,
      timeout: 10_000,
      stdin: 'pipe',
    });
    return summaryOf(String(res.stdout));
  }

  /** Kills what this object started, by PID. */
  async stop(): Promise<void> {
    for (const child of [this.client, this.server]) {
      child?.kill('SIGKILL');
      await child;
    }
    this.client = undefined;
    this.server = undefined;
  }
}

function summaryOf(out: string): FlowSummary {
  const last = out.trim().split('\n').pop() ?? '';
  return last.startsWith('{') ? (JSON.parse(last) as FlowSummary) : { sent: 0, echoed: 0, error: `no summary: ${last}` };
}
