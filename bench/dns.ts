/**
 * Queries/s of keel's DNS server beside knot serving the same records as
 * zone files, same dnsperf, same query mix, interleaved rounds in one run;
 * then how soon a change in etcd is answered. Run as root:
 *   npm run build && npm run build:dev && node dist-dev/bench/dns.js [seconds-per-run]
 * Writes bench/results/dns.json (figures.ts).
 *
 * Both servers listen on 127.0.0.1 with one thread answering UDP (keel's
 * default --dns-workers 1: one worker thread with its own socket answered in
 * recvmmsg/sendmmsg batches, src/dns/dns-workers.ts; knot gets udp-workers 1),
 * and both once more with two (knot udp-workers 2; keel --dns-workers 2: two
 * worker threads, each with its own SO_REUSEPORT socket). keel
 * --dns-workers 0 (the agent thread answers through Node.js dgram, the path
 * without koffi) runs beside them for its CPU per query.
 * The records: 1,000 ClusterIP services
 * with two named ports, 100 headless services with 3 endpoints each, 2,000
 * pods. A bare Node.js dgram echo runs beside them as the ceiling of any
 * one-thread Node.js dgram server (--dns-workers 0). The mix (dnsperf, UDP, 100 outstanding): 60% names that exist (A of
 * services, headless A, SRV, PTR) and 40% NXDOMAIN, as in measured-costs.md.
 *
 * dnsperf has the same settings for every server and is not pinned: knot
 * pins UDP worker i to CPU i (its threads' Cpus_allowed_list: 0, 1), so a
 * client pinned to one CPU would take that CPU from one of knot's workers
 * while keel's worker threads move away from it (measured: keel2/knot2
 * 1.2–2.9 per round with dnsperf on CPU 1). Each round runs the servers in
 * the reverse order of the round before, so a drift in the machine's load
 * hits keel and knot alike; the two-thread ratio is also given round by
 * round (keel and knot measured next to each other), whose median moves
 * less than the ratio of medians.
 *
 * KEEL_BENCH_DNS_BASELINE=<dist-dev directory of another build> (e.g. main's)
 * adds that build's --dns-workers 2 server to every round, for a before/after
 * of a change in one run.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { setMaxListeners } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import type { ApiObject } from '../src/api/object.js';
import type * as DnsServiceModule from '../src/dns/dns-service.js';
import { objectKey } from '../src/api/object.js';
import { exchange, encodeQuery, decodeReply } from '../src/dns/dns-client.js';
import { DnsHandler } from '../src/dns/dns-handler.js';
import { DnsService } from '../src/dns/dns-service.js';
import { fixtureConfig } from '../src/dns/testing/fixture-cluster.js';
import { makeEndpointSubsets, makePod, makeService, snapshotOf } from '../src/api/testing/object-builders.js';
import type { DnsConfig } from '../src/dns/records.js';
import { buildRecordIndex } from '../src/dns/zone-records.js';
import { DnsServer, type ListenAddress } from '../src/dns/server.js';
import { renderZoneFile } from '../src/dns/zone-file.js';
import { setLogLevel } from '../src/observe/log.js';
import { createEtcdClient } from '../src/store/etcd-client.js';
import { EtcdServer, freePort } from '../src/store/etcd-server.js';
import { KvStore } from '../src/store/kv-store.js';
import { encodeForStorage } from '../src/store/object-store.js';
import { ClusterWatch } from '../src/watch/cluster-watch.js';
import { figure, fmt, progress, QUICK, RUNS, writeResult } from './figures.js';

const BENCH = 'dns';
const SECONDS = Number(process.argv[2] ?? (QUICK ? 1 : 5));
const CHANGE_SAMPLES = QUICK ? 10 : 50;
const config: DnsConfig = { ...fixtureConfig(), nsAddresses: ['10.96.0.10'] };
/**
 * dnsperf source ports for the two-thread rows: both servers spread queries
 * over their SO_REUSEPORT sockets by the client's port, so with two ports
 * both land on one socket half the time; eight make that rare.
 */
const TWO_THREAD_CLIENTS = 8;
/** Another build's dist-dev directory, whose two-thread server joins every round as "base2". */
const BASELINE = process.env.KEEL_BENCH_DNS_BASELINE;

function benchSnapshot() {
  const services = [];
  const endpoints = [];
  const pods = [];
  for (let i = 0; i < 1000; i++) {
    services.push(
      makeService(`ns${i % 20}`, `svc${i}`, {
        clusterIP: `10.96.${(i >> 8) + 1}.${i & 255}`,
        ports: [
          { name: 'http', port: 80 },
          { name: 'metrics', port: 9090 },
        ],
      }),
    );
  }
  for (let i = 0; i < 100; i++) {
    services.push(makeService(`ns${i % 20}`, `hl${i}`, { clusterIP: 'None', ports: [{ name: 'db', port: 5432 }] }));
    const addrs = [0, 1, 2].map((j) => ({ ip: `10.244.${100 + j}.${i}`, hostname: `hl${i}-${j}` }));
    endpoints.push(makeEndpointSubsets(`ns${i % 20}`, `hl${i}`, [{ addresses: addrs, ports: [{ name: 'db', port: 5432 }] }]));
  }
  for (let i = 0; i < 2000; i++) pods.push(makePod(`ns${i % 20}`, `pod${i}`, `10.244.${i >> 8}.${i & 255}`));
  return snapshotOf(services, endpoints, 42, pods);
}

function queryMix(): string {
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const k = i % 10;
    const s = (i * 7919) % 1000;
    const h = (i * 31) % 100;
    if (k < 3) lines.push(`svc${s}.ns${s % 20}.svc.cluster.local A`);
    else if (k === 3) lines.push(`hl${h}.ns${h % 20}.svc.cluster.local A`);
    else if (k === 4) lines.push(`_http._tcp.svc${s}.ns${s % 20}.svc.cluster.local SRV`);
    else if (k === 5) lines.push(`${s & 255}.${(s >> 8) + 1}.96.10.in-addr.arpa PTR`);
    else lines.push(`nosuch${i}.ns${s % 20}.svc.cluster.local A`);
  }
  return `${lines.join('\n')}\n`;
}

type Contender = 'keel' | 'keel0' | 'keel2' | 'base2' | 'knot' | 'knot2' | 'echo';
const TWO_THREADS: readonly Contender[] = ['keel2', 'base2', 'knot2'];

interface Row {
  server: Contender;
  round: number;
  qps: number;
  lost: number;
  avgLatencyMs: number;
  cpuMicrosPerQuery: number;
}

/** `clients` source ports: a server with SO_REUSEPORT workers (knot) spreads queries by the client's address and port. */
async function dnsperf(
  port: number,
  file: string,
  clients = 1,
  seconds = SECONDS,
): Promise<{ qps: number; completed: number; lost: number; avgLatencyMs: number }> {
  const out = (
    await execa(
      'dnsperf',
      ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-c', String(clients), '-T', '1', '-q', '100'],
      { reject: false },
    )
  ).stdout;
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
}

function procCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function startKnot(
  top: string,
  zones: Map<string, string>,
  workers: number,
): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = join(top, `knot${workers}`);
  mkdirSync(dir);
  const zoneConf = [...zones.keys()]
    .map((z) => `  - domain: ${z}\n    file: ${join(dir, `${z}.zone`)}\n    journal-content: none\n    zonefile-sync: -1`)
    .join('\n');
  for (const [z, text] of zones) writeFileSync(join(dir, `${z}.zone`), text);
  writeFileSync(
    join(dir, 'knot.conf'),
    `server:\n  listen: 127.0.0.1@${port}\n  rundir: ${dir}\n  udp-workers: ${workers}\n  tcp-workers: 1\n  background-workers: 1\ndatabase:\n  storage: ${dir}\nlog:\n  - target: stderr\n    any: warning\nzone:\n${zoneConf}\n`,
  );
  const child = spawn('knotd', ['-c', join(dir, 'knot.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    const ok = await exchange({ host: '127.0.0.1', port }, encodeQuery('cluster.local', 'SOA'), 'udp', 100).then(
      () => true,
      () => false,
    );
    if (ok) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      return {
        port,
        pid: child.pid as number,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
  }
  child.kill('SIGKILL');
  throw new Error('knotd did not answer');
}

/**
 * The ceiling for any Node.js UDP server here: a dgram socket that sends
 * each query back with QR set, no DNS work at all.
 */
async function startEcho(): Promise<{ port: number; close: () => void }> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  sock.on('message', (m, r) => {
    m[2] = m[2]! | 0x80;
    sock.send(m, r.port, r.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  return { port: sock.address().port, close: () => sock.close() };
}

/** Both servers must say the same thing for a sample of the mix, or the comparison means nothing. */
async function compareAnswers(keel: ListenAddress, knotPort: number, mix: string): Promise<number> {
  let differences = 0;
  for (const line of mix.split('\n').filter(Boolean).slice(0, 200)) {
    const [name, type] = line.split(' ') as [string, string];
    const ask = async (port: number) => decodeReply(await exchange({ host: '127.0.0.1', port }, encodeQuery(name, type), 'udp'));
    const [a, b] = [await ask(keel.port), await ask(knotPort)];
    const show = (p: typeof a) =>
      `${p.rcode} ${(p.answers ?? [])
        .map((r) => JSON.stringify((r as { data?: unknown }).data))
        .sort()
        .join(',')}`;
    if (show(a) !== show(b)) {
      differences += 1;
      console.error(`differs: ${line}: keel ${show(a)} / knot ${show(b)}`);
    }
  }
  return differences;
}

async function changeLatency(samples: number): Promise<{ appearMs: number[]; goneMs: number[] }> {
  const etcd = new EtcdServer();
  await etcd.start();
  const client = createEtcdClient({ endpoints: [etcd.endpoint] });
  const ac = new AbortController();
  // The watch and the DNS service (its sockets and its worker) each listen for it.
  setMaxListeners(20, ac.signal);
  const appearMs: number[] = [];
  const goneMs: number[] = [];
  try {
    const watch = new ClusterWatch({ store: new KvStore(client, [etcd.endpoint]), prefix: '/registry' });
    const service = new DnsService({
      config,
      listen: [{ host: '127.0.0.1', port: 0 }],
      source: watch,
      upstreams: [],
      recursionAllowed: () => false,
      // As the agent by default: the worker thread answers from the deltas the agent posts it.
      udpThreads: { count: 1, recursion: { clusterCidrs: [], nodeAddresses: [] } },
    });
    await Promise.all([service.start(ac.signal), watch.start(ac.signal)]);
    const addr = service.address() as ListenAddress;
    const rcode = async (name: string) => decodeReply(await exchange(addr, encodeQuery(name, 'A'), 'udp')).rcode;
    const waitFor = async (name: string, want: string, t0: number): Promise<number> => {
      // Polled every millisecond: often enough to resolve the figure, rarely enough not to starve the watch.
      while ((await rcode(name)) !== want) await new Promise((r) => setTimeout(r, 1));
      return performance.now() - t0;
    };
    for (let i = 0; i < samples; i++) {
      const svc: ApiObject = makeService('default', `lat${i}`, { clusterIP: `10.96.200.${i}`, ports: [{ port: 80 }] });
      const key = objectKey('/registry', 'Service', 'default', `lat${i}`);
      let t0 = performance.now();
      await client.put(key).value(encodeForStorage(svc));
      appearMs.push(await waitFor(`lat${i}.default.svc.cluster.local`, 'NOERROR', t0));
      t0 = performance.now();
      await client.delete().key(key);
      goneMs.push(await waitFor(`lat${i}.default.svc.cluster.local`, 'NXDOMAIN', t0));
    }
  } finally {
    ac.abort();
    client.close();
    await etcd.stop();
  }
  return { appearMs, goneMs };
}

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;
const median = (xs: number[]): number => pct(xs, 50);

async function main(): Promise<void> {
  setLogLevel('warn');
  const dir = mkdtempSync(join(tmpdir(), 'kd-bench-'));
  const ac = new AbortController();
  // Every server (four keel ones, each UDP and TCP) listens for this one signal.
  setMaxListeners(20, ac.signal);
  const snap = benchSnapshot();
  const index = buildRecordIndex(snap, config);
  const handler = new DnsHandler({ config, recursionAllowed: () => false });
  handler.setSnapshot(snap);
  // --dns-workers 0: the agent thread's dgram socket.
  const keel0 = await new DnsServer({ handler, listen: { host: '127.0.0.1', port: 0 } }).start(ac.signal);
  const withWorkers = (Service: typeof DnsService, count: number) =>
    new Service({
      config,
      listen: [{ host: '127.0.0.1', port: 0 }],
      source: {
        subscribe: (consumer) => (
          void consumer(snap, { services: new Set(), endpoints: new Set(), pods: new Set(), full: true }),
          () => {}
        ),
      },
      upstreams: [],
      recursionAllowed: () => false,
      udpThreads: { count, recursion: { clusterCidrs: [], nodeAddresses: [] } },
    });
  const keelService = withWorkers(DnsService, 1);
  await keelService.start(ac.signal);
  const keel = keelService.address() as ListenAddress;
  const keel2Service = withWorkers(DnsService, 2);
  await keel2Service.start(ac.signal);
  const keel2 = keel2Service.address() as ListenAddress;
  let base2: ListenAddress | undefined;
  if (BASELINE) {
    const base = (await import(join(resolve(BASELINE), 'src/dns/dns-service.js'))) as typeof DnsServiceModule;
    const service = withWorkers(base.DnsService, 2);
    await service.start(ac.signal);
    base2 = service.address() as ListenAddress;
  }
  const mixFile = join(dir, 'queries.txt');
  const mix = queryMix();
  writeFileSync(mixFile, mix);
  const zones = new Map(index.zones.map((z) => [z, renderZoneFile(index, z)]));
  const knot = await startKnot(dir, zones, 1);
  // Both cores, as knot can use them: its workers share the port with SO_REUSEPORT, so dnsperf sends from two ports.
  const knot2 = await startKnot(dir, zones, 2);
  const echo = await startEcho();
  const rows: Row[] = [];
  try {
    const differences = (await compareAnswers(keel, knot.port, mix)) + (await compareAnswers(keel0, knot.port, mix));
    progress(BENCH, `answers of keel (--dns-workers 1, then 0) and knot compared on 200 queries of the mix: ${differences} differences`);
    // Twice the 200, so both of keel2's threads answer some.
    const differences2 = (await compareAnswers(keel2, knot.port, mix)) + (await compareAnswers(keel2, knot.port, mix));
    progress(BENCH, `answers of keel with 2 threads and knot compared on 2 × 200 queries: ${differences2} differences`);
    // One unmeasured second each first: keel's answer cache and its threads' JIT start cold, knot's zone is compiled at load.
    const ports: Partial<Record<Contender, number>> = {
      keel: keel.port,
      keel0: keel0.port,
      keel2: keel2.port,
      ...(base2 ? { base2: base2.port } : {}),
      knot: knot.port,
      knot2: knot2.port,
      echo: echo.port,
    };
    const servers = Object.keys(ports) as Contender[];
    for (const server of servers) await dnsperf(ports[server] as number, mixFile, TWO_THREAD_CLIENTS, 1);
    // Interleaved, so that load on the machine hits all alike; every other round backwards, so that a drift does too.
    for (let round = 1; round <= RUNS; round++) {
      for (const server of round % 2 ? servers : [...servers].reverse()) {
        const knotPid = { knot: knot.pid, knot2: knot2.pid }[server as 'knot' | 'knot2'] as number | undefined;
        const cpu0 = knotPid === undefined ? process.cpuUsage() : undefined;
        const knotCpu0 = knotPid === undefined ? 0 : procCpuMs(knotPid);
        const r = await dnsperf(ports[server] as number, mixFile, TWO_THREADS.includes(server) ? TWO_THREAD_CLIENTS : 1);
        const cpuMs = cpu0
          ? (() => {
              const d = process.cpuUsage(cpu0);
              return (d.user + d.system) / 1000;
            })()
          : procCpuMs(knotPid as number) - knotCpu0;
        rows.push({
          server,
          round,
          qps: r.qps,
          lost: r.lost,
          avgLatencyMs: r.avgLatencyMs,
          cpuMicrosPerQuery: (cpuMs * 1000) / r.completed,
        });
        progress(
          BENCH,
          `${server} run ${round}/${RUNS}: ${fmt(r.qps)} queries/s, ${r.lost} lost, ${fmt((cpuMs * 1000) / r.completed)} µs CPU/query (load ${loadavg()[0]?.toFixed(1)})`,
        );
      }
    }
    const lat = await changeLatency(CHANGE_SAMPLES);
    const of = (s: Contender, f: (r: Row) => number): number[] => rows.filter((r) => r.server === s).map(f);
    const cpuPerQuery = (s: Contender): number => median(of(s, (r) => r.cpuMicrosPerQuery));
    const qps = (s: Contender): number[] => of(s, (r) => Math.round(r.qps));
    /** keel's queries/s over the peer's of the same round: the two ran next to each other, so these move less than whole runs do. */
    const roundRatios = (a: Contender, b: Contender): number[] => {
      const peer = qps(b);
      return qps(a).map((x, i) => x / (peer[i] ?? NaN));
    };
    const pairs = roundRatios('keel2', 'knot2');
    const change = {
      appearP50: pct(lat.appearMs, 50),
      appearP99: pct(lat.appearMs, 99),
      goneP50: pct(lat.goneMs, 50),
      goneP99: pct(lat.goneMs, 99),
    };
    const nproc = (await execa('nproc')).stdout;
    writeResult({
      bench: BENCH,
      figures: [
        figure({
          figure: 5,
          name: 'DNS queries/s, dnsperf 60% names / 40% NXDOMAIN',
          unit: 'queries/s',
          keel: qps('keel'),
          peer: { name: 'knot, same records as zone files', samples: qps('knot') },
          ratio: 'keel/peer',
          target: { on: 'ratio', op: '>=', value: 0.5 },
          note: `CPU µs/query keel ${fmt(cpuPerQuery('keel'))}, knot ${fmt(cpuPerQuery('knot'))}`,
        }),
        figure({
          figure: 0,
          name: 'DNS CPU per query, keel --dns-workers 1 (the default: one worker thread, batched) beside --dns-workers 0 (the agent thread, Node.js dgram), same run',
          unit: 'µs/query',
          keel: of('keel', (r) => r.cpuMicrosPerQuery),
          peer: { name: 'keel --dns-workers 0', samples: of('keel0', (r) => r.cpuMicrosPerQuery) },
          ratio: 'keel/peer',
          note: `queries/s --dns-workers 1 ${fmt(median(qps('keel')))}, 0 ${fmt(median(qps('keel0')))}; round by round ${fmt(median(roundRatios('keel', 'keel0')))}`,
        }),
        figure({
          figure: 5,
          name: 'DNS queries/s, keel --dns-workers 2 beside knot udp-workers 2, both cores (dnsperf from eight ports)',
          unit: 'queries/s',
          keel: qps('keel2'),
          peer: { name: 'knot, udp-workers 2', samples: qps('knot2') },
          ratio: 'keel/peer',
          target: { on: 'ratio', op: '>=', value: 0.8 },
          note: `CPU µs/query keel with 2 threads ${fmt(cpuPerQuery('keel2'))}, knot with 2 workers ${fmt(cpuPerQuery('knot2'))}; round by round keel/knot ${fmt(median(pairs))} (${fmt(Math.min(...pairs))}–${fmt(Math.max(...pairs))})`,
        }),
        ...(base2
          ? [
              figure({
                figure: 0,
                name: 'DNS CPU per query, keel --dns-workers 2 beside the baseline build (KEEL_BENCH_DNS_BASELINE), same run',
                unit: 'µs/query',
                keel: of('keel2', (r) => r.cpuMicrosPerQuery),
                peer: { name: `baseline ${BASELINE ?? ''}`, samples: of('base2', (r) => r.cpuMicrosPerQuery) },
                ratio: 'keel/peer',
                note: `queries/s keel ${fmt(median(qps('keel2')))}, baseline ${fmt(median(qps('base2')))}; round by round ${fmt(median(roundRatios('keel2', 'base2')))}`,
              }),
            ]
          : []),
        figure({
          figure: 5,
          name: 'DNS queries/s, keel --dns-workers 0 beside a Node.js UDP echo (no DNS work: the ceiling of a one-thread Node.js dgram server)',
          unit: 'queries/s',
          keel: qps('keel0'),
          peer: { name: 'Node.js dgram echo', samples: qps('echo') },
          ratio: 'keel/peer',
        }),
      ],
      notes: [
        `dnsperf -c1 -T1 -q100 -l${SECONDS}, UDP, ${RUNS} interleaved runs per server (every other round in reverse order), ${nproc} CPUs, load ${loadavg()[0]?.toFixed(1)} at the end; keel (--dns-workers 1; also 0) and knot (udp-workers 1) each on one UDP thread on 127.0.0.1; knot also with udp-workers 2 and keel with --dns-workers 2, both asked by dnsperf -c${TWO_THREAD_CLIENTS} (both split queries over their SO_REUSEPORT sockets by source port); every server gets one unmeasured second first.`,
        'Records: 1,000 ClusterIP services with two named ports, 100 headless services × 3 endpoints, 2,000 pods; the mix asks A of services, headless A, SRV, PTR (60%) and names that do not exist (40%).',
        `Answers of keel and knot compared on 200 queries of the mix: ${differences} differences (keel with 2 threads, twice: ${differences2}).`,
        `etcd change → answered by keel (${CHANGE_SAMPLES} samples, put/delete then UDP polling): appear p50 ${fmt(change.appearP50)} ms, p99 ${fmt(change.appearP99)} ms; NXDOMAIN after delete p50 ${fmt(change.goneP50)} ms, p99 ${fmt(change.goneP99)} ms.`,
      ],
      detail: {
        seconds: SECONDS,
        answerDifferences: differences,
        answerDifferencesTwoThreads: differences2,
        twoThreadRoundRatios: pairs,
        changeToAnswerMs: { ...change, appearMax: Math.max(...lat.appearMs), goneMax: Math.max(...lat.goneMs) },
        runs: rows,
      },
    });
  } finally {
    await knot.stop();
    await knot2.stop();
    echo.close();
    ac.abort();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
