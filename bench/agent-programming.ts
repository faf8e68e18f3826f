/**
 * `keel agent` at scale, as a user runs it: a real etcd (Unix socket), the
 * agent in its own node namespace (iptables mode with nft, then nftables
 * mode; no DNS, no overlay), 1,000 and then 10,000 services × 5 endpoints
 * stored as v1 JSON.
 *  (3) network programming latency: an Endpoints put in etcd → the new
 *      KUBE-SEP chain committed in the namespace's kernel, seen as nf_tables'
 *      netlink notification in that namespace (bench/nf-tables-events.ts:
 *      event-driven, no polling cost, no copy of the ruleset; its own
 *      latency measured with probe elements and reported),
 *      200 changes one after another in 5 runs of 40; p50/p99 per run
 *      (min/median/max) and pooled over all 200. Target: pooled p99 ≤ 50 ms
 *      at 1k services (the compass goal), ≤ 100 ms at 10k (issue 9).
 *  (4) agent RSS (VmRSS) after each run (min/median/max), and its peak
 *      (VmHWM), at 10k. Target: ≤ 300 MB.
 * Peers: for (3) the smallest restore keel could send, one chain into the
 * same table (etcd's own watch delivery, p99 5 ms in notes/measured-costs.md,
 * is the other part of the floor); for (4) an idle Node.js process, the
 * runtime's own floor. Also reported: the agent's time to /readyz (first list
 * + first sync into an empty table).
 * nftables mode's rows take iptables mode at the same scale as their peer
 * (#16 item 3): the same puts, the new endpoint's address seen in any new
 * object of the `ip keel` table (a chain, a rule or a map element, so the
 * figure holds whichever layout carries the endpoint).
 * Writes bench/results/agent-programming.json (figures.ts). Run as root from
 * the repository root, compiled: npm run build && npm run build:dev && node dist-dev/bench/agent-programming.js [scales, default 1000,10000] [modes, default iptables,nftables]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { execa } from 'execa';
import { objectKey } from '../src/api/object.js';
import { RestoreRunner } from '../src/kernel/iptables/restore-runner.js';
import { NfTablesSocket } from '../src/kernel/nftables/nf-tables-batch.js';
import { sepChain } from '../src/proxy-iptables/chain-names.js';
import { servicePortName } from '../src/service-view/service-port-name.js';
import { createEtcdClient } from '../src/store/etcd-client.js';
import { EtcdServer } from '../src/store/etcd-server.js';
import { KvStore, type TxnOp } from '../src/store/kv-store.js';
import { figure, fmt, nsTag, progress, QUICK, RUNS, writeResult, type FigureRow } from './figures.js';
import { addNodeNetns } from '../test/support/node-netns.js';
import { until } from '../test/support/until.js';
import { NfTablesEvents, type NfTablesEvent } from './nf-tables-events.js';

const BENCH = 'agent-programming';
/** Each scale is a fresh etcd, namespace and agent; 1k is the compass goal's scale, 10k issue 9's. */
const SCALES = (process.argv[2] ?? (QUICK ? '1000' : '1000,10000')).split(',').map(Number);
type Mode = 'iptables' | 'nftables';
const MODES = (process.argv[3] ?? 'iptables,nftables').split(',') as Mode[];
const ENDPOINTS = 5;
const CHANGES_PER_RUN = QUICK ? 10 : 40;
const PREFIX = '/registry';
/** The scale being measured and its node namespace: main() sets both before each scale. */
let SERVICES = 0;
let ns = '';
const nodeIp = '172.30.91.1';

const serviceJson = (i: number): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: 'bench' },
    spec: {
      type: 'ClusterIP',
      clusterIP: `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    },
  });

function endpointIps(i: number): string[] {
  return Array.from({ length: ENDPOINTS }, (_, j) => {
    const k = i * ENDPOINTS + j;
    return `10.244.${Math.floor(k / 250) % 256}.${(k % 250) + 1}`;
  });
}

const endpointsJson = (i: number, ips: string[]): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: `svc-${i}`, namespace: 'bench' },
    subsets: [{ addresses: ips.map((ip, j) => ({ ip, nodeName: `node-${j}` })), ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
  });

async function load(kv: KvStore): Promise<void> {
  const ops: TxnOp[] = [];
  for (let i = 0; i < SERVICES; i++) {
    ops.push({ put: objectKey(PREFIX, 'Service', 'bench', `svc-${i}`), value: serviceJson(i) });
    ops.push({ put: objectKey(PREFIX, 'Endpoints', 'bench', `svc-${i}`), value: endpointsJson(i, endpointIps(i)) });
  }
  // etcd refuses transactions of more than 128 operations.
  for (let at = 0; at < ops.length; at += 100) await kv.txn([], ops.slice(at, at + 100));
}

const inNode = (cmd: string[]) => execa('ip', ['netns', 'exec', ns, ...cmd], { reject: false });

/**
 * nf_tables' notifications in the namespace (bench/nf-tables-events.ts):
 * resolves a wait when the named KUBE-SEP chain is added (iptables mode),
 * or when a new rule or element of keel's nftables table holds the
 * endpoint's address (nftables mode). It keeps no copy of the ruleset, so
 * its cost per event does not grow with the table (`nft monitor`, used
 * before, reported nothing for minutes beside a 10k-service nftables table).
 */
const PROBE_TABLE = 'keel-bench-probe';
const PROBES = 20;

class ChangeWatcher {
  private readonly waiting = new Map<string, () => void>();
  private readonly events: NfTablesEvents;
  private failure: Error | undefined;
  private probeSeen: (() => void) | undefined;

  constructor(private readonly mode: Mode) {
    this.events = new NfTablesEvents(
      ns,
      (e) => {
        if (e.table === PROBE_TABLE) this.probeSeen?.();
        for (const key of this.keysOf(e)) this.waiting.get(key)?.();
      },
      (err) => (this.failure = err),
    );
  }

  /**
   * The detector's own latency, and proof that it listens before the
   * first put: a probe element committed by netlink, from the send to its
   * notification here, beside the same transaction's ACK.
   */
  async probe(): Promise<{ eventMs: number[]; ackMs: number[] }> {
    await execa('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], {
      input: `add table ip ${PROBE_TABLE}\nadd set ip ${PROBE_TABLE} probe { type ipv4_addr; }\n`,
    });
    const sock = new NfTablesSocket({ netns: ns });
    const eventMs: number[] = [];
    const ackMs: number[] = [];
    try {
      for (let i = 1; i <= PROBES; i++) {
        let seenAt = 0;
        const seen = new Promise<void>((resolve) => {
          this.probeSeen = () => {
            seenAt = performance.now();
            resolve();
          };
        });
        const at = performance.now();
        await sock.commit('ip', PROBE_TABLE, [{ op: 'add', set: 'probe', elements: [`10.251.0.${i}`] }]);
        ackMs.push(performance.now() - at);
        await Promise.race([seen, new Promise((_, reject) => setTimeout(() => reject(new Error('no probe event within 5 s')), 5_000))]);
        eventMs.push(seenAt - at);
      }
    } finally {
      sock.close();
      this.probeSeen = undefined;
      await execa('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', PROBE_TABLE], { reject: false });
    }
    return { eventMs, ackMs };
  }

  private keysOf(e: NfTablesEvent): string[] {
    if (this.mode === 'iptables') return e.kind === 'chain' && e.table === 'nat' ? [e.name] : [];
    if (e.table !== 'keel' || e.kind === 'chain') return [];
    return [...this.waiting.keys()].filter((ip) => e.attributes.includes(Buffer.from(ip.split('.').map(Number))));
  }

  /** Register before the put, so an event can never be missed: a chain name, or an address in nftables mode. */
  expect(key: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const timer = setTimeout(() => reject(this.failure ?? new Error(`${key} never appeared`)), timeoutMs);
      this.waiting.set(key, () => {
        this.waiting.delete(key);
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.events.close();
  }
}

/**
 * The peer of (3): the smallest restore keel could send, one new chain with
 * one rule (and its removal), timed into the same 10k-service table. With
 * iptables-nft, --noflush first reads the table into its cache.
 */
async function kernelFloor(): Promise<number[]> {
  const runner = new RestoreRunner({ backend: 'nft', netns: ns });
  const out: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    const chain = `KUBE-SEP-BENCHFLOOR${String(i).padStart(5, '0')}`;
    const at = performance.now();
    await runner.restore(`*nat\n:${chain} - [0:0]\n-A ${chain} -j RETURN\nCOMMIT\n`, { noflush: true });
    out.push(r1(performance.now() - at));
    await runner.restore(`*nat\n:${chain} - [0:0]\n-X ${chain}\nCOMMIT\n`, { noflush: true });
    progress(BENCH, `peer: one-chain iptables-nft-restore --noflush, run ${i}/${RUNS}: ${fmt(out.at(-1) ?? NaN)} ms`);
  }
  return out;
}

/** The peer of (4): an idle Node.js process, what the runtime holds before keel holds anything. */
async function idleNodeRss(): Promise<number[]> {
  const out: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    const idle = execa('node', ['-e', 'setTimeout(() => {}, 60_000)'], { reject: false });
    await new Promise((r) => setTimeout(r, 500));
    out.push(rssMb(idle.pid as number).rss);
    idle.kill('SIGKILL');
    await idle;
    progress(BENCH, `peer: idle Node.js RSS, run ${i}/${RUNS}: ${out.at(-1)} MB`);
  }
  return out;
}

function rssMb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rss: Number((kb('VmRSS') / 1024).toFixed(1)), hwm: Number((kb('VmHWM') / 1024).toFixed(1)) };
}

/** user+sys CPU of a process so far, from /proc/<pid>/stat (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? 0;
}

const r1 = (x: number): number => Number(x.toFixed(1));

function startAgent(etcdEndpoint: string, mode: Mode) {
  return execa(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'node',
      'bin/keel.js',
      'agent',
      '--proxy-mode',
      mode,
      '--iptables-backend',
      'nft',
      '--cluster-cidr',
      '10.244.0.0/16',
      '--node-name',
      'node-a',
      '--node-ip',
      nodeIp,
      '--no-dns',
      '--backend',
      'none',
      '--metrics-bind-address',
      '127.0.0.1:10249',
    ],
    {
      env: { KEEL_ETCD_ENDPOINTS: etcdEndpoint, KEEL_ETCD_PREFIX: PREFIX, KEEL_LOG_LEVEL: process.env.KEEL_LOG_LEVEL ?? 'warn' },
      reject: false,
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
}

/** One scale: a fresh etcd, namespace and agent, torn down before the next. */
async function measureScale(services: number, mode: Mode): Promise<Measured> {
  SERVICES = services;
  ns = `${nsTag('kb')}${randomBytes(3).toString('hex')}-agent`;
  const etcd = new EtcdServer({ unixSocket: true });
  let agent: ReturnType<typeof startAgent> | undefined;
  let watcher: ChangeWatcher | undefined;
  const cleanup = async (): Promise<void> => {
    agent?.kill('SIGKILL');
    watcher?.close();
    await Promise.allSettled([agent]);
    await execa('ip', ['netns', 'del', ns], { reject: false });
    await etcd.stop();
  };
  const interrupted = (): void => void cleanup().finally(() => process.exit(130));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, interrupted);
  try {
    await etcd.start();
    const kv = new KvStore(createEtcdClient({ endpoints: [etcd.socketEndpoint] }), [etcd.socketEndpoint]);
    const t0 = performance.now();
    await load(kv);
    progress(BENCH, `stored ${SERVICES} services, ${SERVICES * ENDPOINTS} endpoints in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await addNodeNetns(ns, nodeIp);
    const started = performance.now();
    agent = startAgent(etcd.socketEndpoint, mode);
    const pid = agent.pid as number;
    await until('agent /readyz', async () => (await inNode(['curl', '-sf', 'http://127.0.0.1:10249/readyz'])).exitCode === 0, 600_000, 500);
    const readyS = r1((performance.now() - started) / 1000);
    progress(BENCH, `agent ready (first list + first sync of ${SERVICES} services) in ${readyS} s`);
    watcher = new ChangeWatcher(mode);
    const probe = await watcher.probe();
    progress(
      BENCH,
      `detector: probe element commit → its notification p50 ${fmt(quantile(probe.eventMs, 0.5))} ms, p99 ${fmt(quantile(probe.eventMs, 0.99))} ms ` +
        `(→ the transaction's ACK p50 ${fmt(quantile(probe.ackMs, 0.5))} ms; load ${loadavg()[0]?.toFixed(1)})`,
    );
    const rss: number[] = [];
    const cpuPerChange: number[] = [];
    const latencies: number[][] = [];
    const shares: Share[] = [];
    let change = 0;
    for (let run = 1; run <= RUNS; run++) {
      const lat: number[] = [];
      const cpu0 = cpuMs(pid);
      const times0 = await agentTimes();
      for (let c = 0; c < CHANGES_PER_RUN; c++, change++) {
        const i = (change * 37) % SERVICES;
        const ip = `10.250.${Math.floor(change / 250)}.${(change % 250) + 1}`;
        const ips = [ip, ...endpointIps(i).slice(1)];
        const seen = watcher.expect(
          mode === 'iptables' ? sepChain(servicePortName('bench', `svc-${i}`, 'http'), 'TCP', `${ip}:8080`) : ip,
          300_000,
        );
        const at = performance.now();
        await kv.txn([], [{ put: objectKey(PREFIX, 'Endpoints', 'bench', `svc-${i}`), value: endpointsJson(i, ips) }]);
        await seen;
        lat.push(performance.now() - at);
      }
      cpuPerChange.push(r1((cpuMs(pid) - cpu0) / CHANGES_PER_RUN));
      const times = await agentTimes();
      const share = {
        putMs: r1(lat.reduce((a, b) => a + b, 0) / lat.length),
        programmingMs: r1(((times.programmingS - times0.programmingS) * 1000) / (times.programmed - times0.programmed)),
        syncMs: r1(((times.syncS - times0.syncS) * 1000) / (times.syncs - times0.syncs)),
      };
      shares.push(share);
      latencies.push(lat);
      rss.push(rssMb(pid).rss);
      progress(
        BENCH,
        `${mode} mode, ${SERVICES} services, run ${run}/${RUNS} (${CHANGES_PER_RUN} changes): p50 ${fmt(quantile(lat, 0.5))} ms, p99 ${fmt(quantile(lat, 0.99))} ms, ` +
          `agent CPU ${fmt(cpuPerChange.at(-1) ?? NaN)} ms/change, RSS ${rss.at(-1)} MB (load ${loadavg()[0]?.toFixed(1)}); ` +
          `means: put → kernel ${fmt(share.putMs)} ms, change in the sync loop → synced ${fmt(share.programmingMs)} ms, of it the sync ${fmt(share.syncMs)} ms`,
      );
    }
    const peakMb = rssMb(pid).hwm;
    // The one-chain restore floor is iptables mode's peer; nftables mode's is iptables mode itself.
    const floor = mode === 'iptables' ? await kernelFloor() : [];
    kv.close();
    return { mode, services, readyS, latencies, cpuPerChange, rss, peakMb, floor, probe, shares };
  } finally {
    await cleanup();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, interrupted);
  }
}

async function main(): Promise<void> {
  const measured: Measured[] = [];
  for (const services of SCALES) for (const mode of MODES) measured.push(await measureScale(services, mode));
  report(measured, await idleNodeRss());
}

interface Measured {
  mode: Mode;
  services: number;
  readyS: number;
  latencies: number[][];
  /** The agent's user+sys CPU per change, one figure per run: what a loaded machine moves less than latency. */
  cpuPerChange: number[];
  rss: number[];
  peakMb: number;
  floor: number[];
  /** The detector's own latency: a probe element's commit → its notification, and → the transaction's ACK. */
  probe: { eventMs: number[]; ackMs: number[] };
  shares: Share[];
}

/**
 * Where a run's changes spent their time on average, from the agent's own
 * histograms: put → kernel (the bench's figure), the change reaching the
 * sync loop → its sync done (keel_network_programming_duration_seconds),
 * and the partial sync itself (compile + restore or netlink transaction).
 * The difference between the first two is etcd → watch → delivery.
 */
interface Share {
  putMs: number;
  programmingMs: number;
  syncMs: number;
}

/** The agent's partial syncs and programming durations so far (counts, summed seconds), from its /metrics. */
async function agentTimes(): Promise<{ syncs: number; syncS: number; programmed: number; programmingS: number }> {
  const text = String((await inNode(['curl', '-sf', 'http://127.0.0.1:10249/metrics'])).stdout);
  // A histogram with no observation yet (no partial sync before the first run) has no line: zero.
  const value = (name: string): number => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    syncs: value('keel_sync_proxy_rules_duration_seconds_count{kind="partial"}'),
    syncS: value('keel_sync_proxy_rules_duration_seconds_sum{kind="partial"}'),
    programmed: value('keel_network_programming_duration_seconds_count'),
    programmingS: value('keel_network_programming_duration_seconds_sum'),
  };
}

/** Targets: the compass goal at 1k (p99 ≤ 50 ms), issue 9's at 10k (≤ 100 ms). */
const p99Target = (services: number): number => (services <= 1000 ? 50 : 100);

function rows(m: Measured, idle: number[], all_: readonly Measured[]): FigureRow[] {
  const all = m.latencies.flat();
  const pooled = { p50: r1(quantile(all, 0.5)), p99: r1(quantile(all, 0.99)), max: r1(Math.max(...all)) };
  const scale = `${fmt(m.services)} services / ${fmt(m.services * ENDPOINTS)} endpoints${m.mode === 'nftables' ? ', nftables mode' : ''}`;
  const ipt = all_.find((x) => x.mode === 'iptables' && x.services === m.services);
  const perRun = (q: number) => (x: Measured) => x.latencies.map((l) => r1(quantile(l, q)));
  const peerOf = (q: number) =>
    m.mode === 'iptables' || !ipt
      ? { name: 'one-chain iptables-nft-restore into the same table', samples: m.floor }
      : { name: 'iptables mode, same puts and scale', samples: perRun(q)(ipt) };
  const cpu = [...m.cpuPerChange].sort((a, b) => a - b)[Math.floor(m.cpuPerChange.length / 2)] ?? NaN;
  return [
    figure({
      figure: 3,
      name: `programming latency p50, etcd put → rule in kernel, ${scale}`,
      unit: 'ms',
      keel: perRun(0.5)(m),
      pooled: pooled.p50,
      peer: peerOf(0.5),
      ratio: 'keel/peer',
      note: `agent CPU ${fmt(cpu)} ms per change, median of the runs`,
    }),
    figure({
      figure: 3,
      name: `programming latency p99, etcd put → rule in kernel, ${scale}`,
      unit: 'ms',
      keel: perRun(0.99)(m),
      pooled: pooled.p99,
      peer: peerOf(0.99),
      ratio: 'keel/peer',
      target: { on: 'keel', op: '<=', value: p99Target(m.services) },
      note: `slowest of all ${all.length}: ${pooled.max} ms`,
    }),
    ...(m.services >= 10_000
      ? [
          figure({
            figure: 4,
            name: `agent RSS at ${scale}`,
            unit: 'MB',
            keel: m.rss,
            peer: { name: 'idle Node.js process', samples: idle },
            ratio: 'keel/peer',
            target: { on: 'keel', op: '<=', value: 300 },
            note: `peak ${m.peakMb} MB`,
          }),
        ]
      : []),
  ];
}

function report(measured: Measured[], idle: number[]): void {
  const changes = RUNS * CHANGES_PER_RUN;
  writeResult({
    bench: BENCH,
    figures: measured.flatMap((m) => rows(m, idle, measured)),
    notes: [
      `keel agent in a node netns (iptables mode with nft, then nftables mode: ${MODES.join(', ')}), real etcd over its Unix socket, a fresh one per scale; ${changes} Endpoints puts one after another in ${RUNS} runs of ${CHANGES_PER_RUN},` +
        " each timed until nf_tables' netlink notification of the change reached the bench (a socket in the namespace subscribed to NFNLGRP_NFTABLES): the new KUBE-SEP chain, or in nftables mode a new rule or element of `ip keel` holding the new address." +
        ` p50 and p99 per run of ${CHANGES_PER_RUN} (a run's p99 is about its slowest change) and pooled over all ${changes}, on which the target is judged` +
        ' (p99 ≤ 50 ms at 1k services, the compass goal; ≤ 100 ms at 10k, issue 9).',
      "Agent CPU per change: the agent's user+sys time over a run divided by its changes (the iptables-nft-restore it runs is a child and not counted).",
      'RSS (VmRSS) of the agent after each run; its peak (VmHWM) beside it. Peers: one restore of a one-rule chain into the same table (--noflush), and an idle `node` process.',
      `The detector's own latency (${PROBES} probe elements committed by netlink in the namespace after the first sync, send → notification p50/p99; → the same transaction's ACK): ${measured
        .map(
          (m) =>
            `${m.mode} ${fmt(m.services)} ${fmt(quantile(m.probe.eventMs, 0.5))}/${fmt(quantile(m.probe.eventMs, 0.99))} ms (ACK ${fmt(quantile(m.probe.ackMs, 0.5))})`,
        )
        .join(', ')}.`,
      "Where the time goes (each run's means, in the JSON's detail as shares): put → kernel, the change reaching the agent's sync loop → its sync done (keel_network_programming_duration_seconds), and the partial sync itself (compile + iptables-restore or the nftables transaction, keel_sync_proxy_rules_duration_seconds); put → kernel minus the second is etcd → watch → delivery.",
      `etcd's own watch delivery (p99 5 ms, notes/measured-costs.md) is the rest of the floor of (3). Agent ready (first list + first sync into an empty table): ${measured.map((m) => `${m.mode} ${fmt(m.services)} services ${m.readyS} s`).join(', ')}.`,
    ],
    detail: measured.map((m) => ({
      mode: m.mode,
      services: m.services,
      endpoints: m.services * ENDPOINTS,
      readyS: m.readyS,
      latenciesMs: m.latencies.map((l) => l.map(r1)),
      cpuMsPerChange: m.cpuPerChange,
      rssMb: m.rss,
      peakRssMb: m.peakMb,
      shares: m.shares,
      detectorMs: { event: m.probe.eventMs.map((x) => Number(x.toFixed(2))), ack: m.probe.ackMs.map((x) => Number(x.toFixed(2))) },
    })),
  });
}

await main();
