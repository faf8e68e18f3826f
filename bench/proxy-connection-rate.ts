/**
 * proxy-connection-rate: the data-path reason for nftables mode (#16 item 3).
 * A new connection's first packet to a ClusterIP walks iptables mode's nat
 * KUBE-SERVICES rule by rule, so its cost grows with the number of services
 * before the one it is for; nftables mode looks the destination up in one
 * verdict map. Measured as new connections/s through the ClusterIP of the
 * *last* of N services (the last rule of KUBE-SERVICES) at 100, 1k and 10k
 * services × 5 endpoints, iptables mode (iptables-nft) beside nftables mode.
 *
 * For each mode and size: a node namespace holding the N-service table as
 * that mode's compiler writes it (iptables-nft-restore, or one `nft -f` of
 * the nftables table), a client pod and a backend pod namespace routed
 * through it (veth; the node forwards). The last service's 5 endpoints are
 * addresses of the backend pod, where nginx (one process) answers each
 * request and closes. wrk in the client pod (one thread, 8 connections,
 * `Connection: close`: every request is a new TCP connection, so a new
 * conntrack entry and a first packet through the NAT hooks) runs for a
 * bounded time; the node's conntrack table is flushed before each run.
 * All 6 nodes stay loaded and the runs interleave sizes and modes, so load
 * on the shared machine hits them alike.
 *
 * Reported per run: connections/s; client CPU µs per connection (wrk's
 * user+sys: on this kernel, without IRQ time accounting, that includes the
 * softirq in which its own SYN crosses the node's hooks); the machine's
 * softirq µs per connection (/proc/stat, system-wide: other load adds to
 * it); the load average. Target: nftables mode at 10k services within 10%
 * of nftables mode at 100 (connections/s).
 * Writes bench/results/proxy-connection-rate.json (figures.ts). Run as root:
 *   npm run build && npm run build:dev && node dist-dev/bench/proxy-connection-rate.js [sizes, default 100,1000,10000] [seconds per run]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeEndpoints, snapshotOf } from '../src/api/testing/object-builders.js';
import { RestoreRunner } from '../src/kernel/iptables/restore-runner.js';
import { NftCommand } from '../src/kernel/nftables/nft-runner.js';
import { setLogLevel } from '../src/observe/log.js';
import { compileRules, DEFAULT_MASQUERADE_BIT, type NodeConfig } from '../src/proxy-iptables/compile.js';
import { renderRestore } from '../src/proxy-iptables/render-restore.js';
import { compileNftables } from '../src/proxy-nftables/compile.js';
import { renderFullSync } from '../src/proxy-nftables/render-table.js';
import { cluster } from './bench-cluster.js';
import { figure, fmt, nsTag, progress, QUICK, RUNS, spread, writeResult, type FigureRow } from './figures.js';

const BENCH = 'proxy-connection-rate';
const SIZES = (process.argv[2] ?? (QUICK ? '100,1000' : '100,1000,10000')).split(',').map(Number);
const SECONDS = Number(process.argv[3] ?? (QUICK ? 1 : 3));
const CONNECTIONS = 8;
const MODES = ['iptables', 'nftables'] as const;
type Mode = (typeof MODES)[number];
const BACKEND_IPS = ['10.244.252.2', '10.244.252.3', '10.244.252.4', '10.244.252.5', '10.244.252.6'];
const CLIENT_IP = '10.244.251.2';

setLogLevel('error');
const node: NodeConfig = { nodeName: 'node-1', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
const run = randomBytes(2).toString('hex');
const made: string[] = [];
/** Each backend's nginx: awaited (and killed) at the end. */
const servers: { done: Promise<unknown>; kill: () => void }[] = [];
const dir = mkdtempSync(join(tmpdir(), 'keel-conn-rate-'));

interface Lab {
  mode: Mode;
  services: number;
  nodeNs: string;
  clientNs: string;
  url: string;
  serverPid: number;
}

const ip = (ns: string, ...args: string[]) => execa('ip', ['-n', ns, ...args]);
const inNs = (ns: string, cmd: string, args: string[]) => execa('ip', ['netns', 'exec', ns, cmd, ...args], { reject: false });

async function netns(role: string): Promise<string> {
  const ns = `${nsTag('kcr')}-${run}-${role}`;
  await execa('ip', ['netns', 'add', ns]);
  made.push(ns);
  await ip(ns, 'link', 'set', 'lo', 'up');
  return ns;
}

const NGINX_CONF = (tag: string): string =>
  [
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    `pid ${join(dir, `${tag}.pid`)};`,
    'error_log stderr crit;',
    'events { worker_connections 4096; }',
    'http {',
    '  access_log off;',
    '  keepalive_timeout 0;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, `${tag}-${t}`)};`),
    '  server { listen 8080 backlog=4096 reuseport; location / { return 200 "ok\\n"; } }',
    '}',
    '',
  ].join('\n');

/** The node, client and backend namespaces of one mode and size, the node's table loaded by that mode's compiler. */
async function buildLab(mode: Mode, services: number): Promise<Lab> {
  const tag = `${mode.slice(0, 3)}${services}`;
  const [nodeNs, clientNs, backendNs] = [await netns(`${tag}n`), await netns(`${tag}c`), await netns(`${tag}b`)];
  await ip(nodeNs, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', clientNs);
  await ip(nodeNs, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', backendNs);
  for (const [ns, dev, addrs] of [
    [nodeNs, 'c0', ['10.244.251.1/24']],
    [nodeNs, 'b0', ['10.244.252.1/24']],
    [clientNs, 'eth0', [`${CLIENT_IP}/24`]],
    [backendNs, 'eth0', BACKEND_IPS.map((a) => `${a}/24`)],
  ] as const) {
    for (const a of addrs) await ip(ns, 'addr', 'add', a, 'dev', dev);
    await ip(ns, 'link', 'set', dev, 'up');
  }
  await ip(clientNs, 'route', 'add', 'default', 'via', '10.244.251.1');
  await ip(backendNs, 'route', 'add', 'default', 'via', '10.244.252.1');
  await execa('ip', ['netns', 'exec', nodeNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  // Each run opens tens of thousands of connections from one address: every local port, and a port's TIME_WAIT reused.
  await execa('ip', ['netns', 'exec', clientNs, 'sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);

  const { services: svcs, eps } = cluster(services);
  const last = services - 1;
  eps[last] = makeEndpoints(
    'bench',
    `svc-${last}`,
    BACKEND_IPS.map((a, j) => ({ ip: a, node: `node-${j}` })),
    [{ name: 'http', port: 8080 }],
  );
  const snap = snapshotOf(svcs, eps);
  const clusterIp = svcs[last]?.spec.clusterIP ?? '';
  const t0 = performance.now();
  if (mode === 'iptables') {
    const text = renderRestore(compileRules(snap, node));
    // The service whose ClusterIP rule the first packet reaches last.
    const tail = text.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES') && l.includes(' -d '));
    if (!tail.at(-1)?.includes(`-d ${clusterIp}/32`))
      throw new Error(`svc-${last} (${clusterIp}) is not the last rule of KUBE-SERVICES: ${tail.at(-1) ?? 'none'}`);
    await new RestoreRunner({ backend: 'nft', netns: nodeNs }).restore(text, { noflush: false });
  } else {
    await new NftCommand({ netns: nodeNs }).run(renderFullSync(compileNftables(snap, node)));
  }
  progress(BENCH, `${mode} mode, ${fmt(services)} services: table loaded in ${fmt((performance.now() - t0) / 1000)} s`);

  writeFileSync(join(dir, `${tag}.conf`), NGINX_CONF(tag));
  const server = execa('ip', ['netns', 'exec', backendNs, 'nginx', '-p', dir, '-c', join(dir, `${tag}.conf`)], { reject: false });
  servers.push({ done: server, kill: () => server.kill('SIGKILL') });
  const url = `http://${clusterIp}/`;
  for (let i = 0; ; i++) {
    const probe = await inNs(clientNs, 'curl', ['-sf', '--max-time', '2', url]);
    if (probe.exitCode === 0) break;
    if (i >= 50) throw new Error(`${url} does not answer through the ${mode} node: ${probe.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { mode, services, nodeNs, clientNs, url, serverPid: server.pid as number };
}

/** user+sys ms of this process's waited-for children (wrk, once it exits). */
function childCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[13]) + Number(f[14])) * 10;
}

/** user+sys ms of one running process. */
function cpuMsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** The machine's softirq time so far, ms over all CPUs (/proc/stat, USER_HZ = 100). */
function softirqMs(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/) ?? [];
  return Number(cpu[7]) * 10;
}

interface Sample {
  mode: Mode;
  services: number;
  run: number;
  connectionsPerS: number;
  connections: number;
  clientUsPerConn: number;
  softirqUsPerConn: number;
  backendUsPerConn: number;
  errors: string;
  load1: number;
}

/** The nginx worker: `ip netns exec` execs nginx, which (master_process off) serves in that process. */
async function measure(lab: Lab, runNo: number): Promise<Sample> {
  await inNs(lab.nodeNs, 'conntrack', ['-F']);
  const c0 = childCpuMs();
  const s0 = softirqMs();
  const b0 = cpuMsOf(lab.serverPid);
  const res = await inNs(lab.clientNs, 'wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '-H', 'Connection: close', lab.url]);
  const client = childCpuMs() - c0;
  const softirq = softirqMs() - s0;
  const backend = cpuMsOf(lab.serverPid) - b0;
  const out = String(res.stdout);
  const connections = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  if (res.exitCode !== 0 || !(connections > 0)) throw new Error(`wrk through ${lab.url} failed: ${out} ${String(res.stderr)}`);
  const per = (ms: number): number => Number(((ms * 1000) / connections).toFixed(1));
  return {
    mode: lab.mode,
    services: lab.services,
    run: runNo,
    connectionsPerS: Math.round(rate),
    connections,
    clientUsPerConn: per(client),
    softirqUsPerConn: per(softirq),
    backendUsPerConn: per(backend),
    errors: /Socket errors:.*|Non-2xx.*/.exec(out)?.[0] ?? '',
    load1: Number((loadavg()[0] ?? 0).toFixed(1)),
  };
}

async function cleanup(): Promise<void> {
  for (const s of servers) s.kill();
  await Promise.allSettled(servers.map((s) => s.done));
  for (const ns of made.splice(0)) await execa('ip', ['netns', 'del', ns], { reject: false });
  rmSync(dir, { recursive: true, force: true });
}

const sizeName = (n: number): string => (n >= 1000 ? `${n / 1000}k` : String(n));

function rows(samples: readonly Sample[]): FigureRow[] {
  const of = (mode: Mode, services: number, k: keyof Sample): number[] =>
    samples.filter((s) => s.mode === mode && s.services === services).map((s) => s[k] as number);
  const med = (xs: number[]): string => fmt(spread(xs).median);
  const cpuNote = (n: number): string =>
    `client+softirq CPU µs/connection, medians: nftables ${med(of('nftables', n, 'clientUsPerConn'))}+${med(of('nftables', n, 'softirqUsPerConn'))}, ` +
    `iptables ${med(of('iptables', n, 'clientUsPerConn'))}+${med(of('iptables', n, 'softirqUsPerConn'))}`;
  const out = SIZES.map((n) =>
    figure({
      figure: 0,
      name: `new connections/s through the ClusterIP of the last of ${sizeName(n)} services, nftables mode`,
      unit: 'conn/s',
      keel: of('nftables', n, 'connectionsPerS'),
      peer: { name: `iptables mode (iptables-nft), ${sizeName(n)} services`, samples: of('iptables', n, 'connectionsPerS') },
      ratio: 'keel/peer',
      note: cpuNote(n),
    }),
  );
  const small = Math.min(...SIZES);
  const large = Math.max(...SIZES);
  if (large > small) {
    const cpu = (mode: Mode, n: number): number[] =>
      samples.filter((s) => s.mode === mode && s.services === n).map((s) => s.clientUsPerConn + s.softirqUsPerConn);
    const ipt = (n: number): number => spread(of('iptables', n, 'connectionsPerS')).median;
    out.push(
      figure({
        figure: 0,
        name: `nftables mode: new connections/s at ${sizeName(large)} services vs at ${sizeName(small)}`,
        unit: 'conn/s',
        keel: of('nftables', large, 'connectionsPerS'),
        peer: { name: `nftables mode, ${sizeName(small)} services`, samples: of('nftables', small, 'connectionsPerS') },
        ratio: 'keel/peer',
        target: { on: 'ratio', op: '>=', value: 0.9 },
        note: `iptables mode ${sizeName(large)}/${sizeName(small)} = ${fmt(ipt(large) / ipt(small))}`,
      }),
      // The same target in CPU time per connection, which other load on the machine moves far less than the rate.
      figure({
        figure: 0,
        name: `nftables mode: client+softirq CPU per new connection at ${sizeName(large)} services vs at ${sizeName(small)}`,
        unit: 'µs',
        keel: cpu('nftables', large),
        peer: { name: `nftables mode, ${sizeName(small)} services`, samples: cpu('nftables', small) },
        ratio: 'keel/peer',
        target: { on: 'ratio', op: '<=', value: 1.1 },
        note: `iptables mode: ${fmt(spread(cpu('iptables', large)).median)} vs ${fmt(spread(cpu('iptables', small)).median)} µs`,
      }),
    );
  }
  return out;
}

async function main(): Promise<void> {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  const samples: Sample[] = [];
  try {
    const labs: Lab[] = [];
    for (const n of SIZES) for (const mode of MODES) labs.push(await buildLab(mode, n));
    // One short warm-up per node (first connections pay for route and neighbour lookups, nginx's first accept).
    for (const lab of labs) await inNs(lab.clientNs, 'wrk', ['-t1', '-c1', '-d1s', '-H', 'Connection: close', lab.url]);
    for (let r = 1; r <= RUNS; r++) {
      for (const lab of labs) {
        const s = await measure(lab, r);
        samples.push(s);
        progress(
          BENCH,
          `run ${r}/${RUNS}, ${s.mode} mode, ${fmt(s.services)} services: ${fmt(s.connectionsPerS)} conn/s, CPU µs/conn client ${fmt(s.clientUsPerConn)}, ` +
            `softirq ${fmt(s.softirqUsPerConn)}, backend ${fmt(s.backendUsPerConn)}${s.errors ? `, ${s.errors}` : ''} (load ${s.load1})`,
        );
      }
    }
  } finally {
    await cleanup();
  }
  const loads = samples.map((s) => s.load1);
  writeResult({
    bench: BENCH,
    figures: rows(samples),
    notes: [
      `A node namespace per mode and size holding N services × 5 endpoints (iptables mode: iptables-nft-restore of keel's rules; nftables mode: one nft -f of keel's table), a client and a backend pod namespace routed through it; the ClusterIP is that of the last of the N services (its rule is KUBE-SERVICES's last), its 5 endpoints addresses of the backend pod, where nginx (one process) answers and closes.`,
      `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s -H 'Connection: close' from the client pod: every request a new TCP connection through the node's NAT hooks; the node's conntrack flushed before each run; ${RUNS} runs, each interleaving every size and mode.`,
      "CPU per connection: client = wrk user+sys (this kernel has no IRQ time accounting, so it includes the softirq in which its own packets cross the node), softirq = the whole machine's /proc/stat softirq time (other load adds to it), backend = nginx.",
      `Load average (1 min) during the runs: ${fmt(Math.min(...loads))}–${fmt(Math.max(...loads))}.`,
    ],
    detail: samples,
  });
}

await main();
