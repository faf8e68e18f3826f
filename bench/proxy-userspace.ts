/**
 * Requests/s through keel's userspace proxy beside a direct connection and
 * beside haproxy (tcp mode, round-robin over the same two backends), with
 * the same client (wrk) in the same run. Run as root:
 *   npx vite-node bench/proxy-userspace.ts [seconds]
 * Writes bench/results/proxy-userspace-<timestamp>.{json,md}.
 *
 * Topology: test/e2e/proxy-userspace-lab.ts. The backends are minimal
 * keep-alive HTTP servers answering a 612-byte page (nginx's default page
 * size) so the proxies, not the backends, are what is measured. keel and
 * haproxy both run in the node namespace on one thread (haproxy
 * `nbthread 1`); wrk runs in the client pod with 1 thread.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { POD_IPS, ProxyNode, UserspaceLab } from '../test/e2e/proxy-userspace-lab.js';

const SECONDS = Number(process.argv[2] ?? 10);
const CONNECTIONS = 50;
const ROUNDS = 3;
const CLUSTER_IP = '10.96.0.10';
const HAPROXY_PORT = 8888;

const HTTP_BACKEND_JS = `
import net from 'node:net';
const body = 'x'.repeat(612);
const head = (close) => 'HTTP/1.1 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Length: 612\\r\\n' + (close ? 'Connection: close\\r\\n' : '') + '\\r\\n';
const srv = net.createServer((s) => { let buf = ''; s.setNoDelay(true); s.on('error', () => {});
  s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\r\\n\\r\\n')) >= 0) { const req = buf.slice(0, i); buf = buf.slice(i + 4);
    const close = /connection: close/i.test(req); s.write(head(close) + body); if (close) { s.end(); return; } } }); });
srv.listen({ port: 8080, backlog: 4096 }, () => console.log('ready'));
`;

interface Row {
  target: string;
  mode: 'keep-alive' | 'close';
  round: number;
  requestsPerSecond: number;
  /** CPU time the proxy process spent per request: unlike req/s, barely moved by other load on the machine. */
  proxyCpuMicrosPerRequest: number | undefined;
  errors: string;
}

/** utime + stime of a process, in ms (clock ticks are 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function wrk(lab: UserspaceLab, url: string, close: boolean): Promise<{ rps: number; requests: number; errors: string }> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, ...(close ? ['-H', 'Connection: close'] : []), url];
  const out = await lab.exec('pc', 'wrk', args);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const errors = /Socket errors:.*|Non-2xx.*/g.exec(out)?.[0] ?? '';
  return { rps, requests, errors };
}

async function main(): Promise<void> {
  const lab = new UserspaceLab();
  let node: ProxyNode | undefined;
  try {
    await lab.build();
    writeFileSync(join(lab.dir, 'http-backend.mjs'), HTTP_BACKEND_JS);
    for (const pod of ['pa', 'pb'] as const) {
      const p = lab.spawn(pod, 'node', [join(lab.dir, 'http-backend.mjs')]);
      await new Promise<void>((r) => p.stdout?.once('data', () => r()));
    }
    writeFileSync(join(lab.dir, 'haproxy.cfg'), [
      'global', '  nbthread 1', '  maxconn 8000',
      'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 60s', '  timeout server 60s',
      `listen web`, `  bind 0.0.0.0:${HAPROXY_PORT}`, '  balance roundrobin',
      `  server a ${POD_IPS.pa}:8080`, `  server b ${POD_IPS.pb}:8080`, '',
    ].join('\n'));
    const haproxy = lab.spawn('node', 'haproxy', ['-db', '-f', join(lab.dir, 'haproxy.cfg')]);
    for (let i = 0; i < 50 && !(await lab.exec('node', 'ss', ['-ltn'])).includes(`:${HAPROXY_PORT}`); i++) await new Promise((r) => setTimeout(r, 100));
    node = ProxyNode.start(lab);
    await node.sync([
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: CLUSTER_IP, ports: [{ port: 80, targetPort: 8080 }] } },
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { namespace: 'default', name: 'web' }, subsets: [{ addresses: [{ ip: POD_IPS.pa }, { ip: POD_IPS.pb }], ports: [{ port: 8080 }] }] },
    ]);
    const targets = [
      { target: 'direct (one backend)', url: `http://${POD_IPS.pa}:8080/`, pid: undefined },
      { target: 'haproxy tcp, nbthread 1', url: `http://10.244.1.1:${HAPROXY_PORT}/`, pid: haproxy.pid },
      { target: 'keel userspace (ClusterIP)', url: `http://${CLUSTER_IP}/`, pid: node.proc.pid },
    ];
    const rows: Row[] = [];
    for (const mode of ['keep-alive', 'close'] as const) {
      for (let round = 1; round <= ROUNDS; round++) {
        for (const t of targets) {
          const cpuBefore = cpuMs(t.pid);
          const r = await wrk(lab, t.url, mode === 'close');
          const cpu = t.pid === undefined ? undefined : +(((cpuMs(t.pid) - cpuBefore) * 1000) / r.requests).toFixed(1);
          rows.push({ target: t.target, mode, round, requestsPerSecond: Math.round(r.rps), proxyCpuMicrosPerRequest: cpu, errors: r.errors });
          console.log(`${mode.padEnd(10)} round ${round}  ${t.target.padEnd(28)} ${Math.round(r.rps)} req/s  ${cpu ?? '-'} µs CPU/req ${r.errors}`);
        }
      }
    }
    // Median of the interleaved rounds: the machine is shared, so single runs swing.
    const median = (target: string, mode: string, field: 'requestsPerSecond' | 'proxyCpuMicrosPerRequest' = 'requestsPerSecond'): number => {
      const v = rows.filter((r) => r.target === target && r.mode === mode).map((r) => r[field] ?? NaN).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)] ?? NaN;
    };
    const summary = (['keep-alive', 'close'] as const).map((mode) => {
      const [direct, haproxy, keel] = targets.map((t) => median(t.target, mode)) as [number, number, number];
      const cpu = { haproxy: median(targets[1]?.target ?? '', mode, 'proxyCpuMicrosPerRequest'), keel: median(targets[2]?.target ?? '', mode, 'proxyCpuMicrosPerRequest') };
      return {
        mode, direct, haproxy, keel, keelVsHaproxy: +(keel / haproxy).toFixed(2), keelVsDirect: +(keel / direct).toFixed(2),
        cpuMicrosPerRequest: cpu, haproxyVsKeelCpu: +(cpu.haproxy / cpu.keel).toFixed(2),
      };
    });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const results = join('bench', 'results');
    mkdirSync(results, { recursive: true });
    const meta = { date: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, rounds: ROUNDS, cpus: (await execa('nproc')).stdout, node: process.version, load: (await import('node:os')).loadavg()[0]?.toFixed(1) };
    writeFileSync(join(results, `proxy-userspace-${stamp}.json`), `${JSON.stringify({ meta, summary, rows }, null, 2)}\n`);
    const md = [
      `# userspace proxy: wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, 612-byte page, median of ${ROUNDS} interleaved rounds, ${meta.cpus} CPUs, load ${meta.load}, ${meta.date}`, '',
      '| connections | direct req/s | haproxy (tcp, 1 thread) req/s | keel userspace req/s | keel/haproxy | keel/direct | CPU µs/req haproxy | CPU µs/req keel | keel efficiency vs haproxy |',
      '|---|---|---|---|---|---|---|---|---|',
      ...summary.map((s) => `| ${s.mode} | ${s.direct} | ${s.haproxy} | ${s.keel} | ${s.keelVsHaproxy} | ${s.keelVsDirect} | ${s.cpuMicrosPerRequest.haproxy} | ${s.cpuMicrosPerRequest.keel} | ${s.haproxyVsKeelCpu} |`), '',
    ].join('\n');
    writeFileSync(join(results, `proxy-userspace-${stamp}.md`), md);
    console.log(md);
  } finally {
    await node?.stop().catch(() => {});
    await lab.destroy();
  }
}

await main();
