/**
 * The fleet bench (issue 18): N simulated keel nodes — each its own etcd
 * connection with keel's real informers (bench/fleet/node-worker.ts) —
 * against seed 003's three-member etcd, directly or through `etcd
 * grpc-proxy`, all in one network namespace (bench/fleet/fleet-cluster.ts).
 * Per configuration (services S, nodes N, direct | proxy):
 *  - cold start: every node started at once until all hold the full state;
 *    etcd's CPU and peak RSS over it (the proxy's too);
 *  - memory per watcher: etcd's (and the proxy's) RSS growth over the
 *    nodes' 4 watches each;
 *  - one change (an Endpoints put) → held by every node, p50/p99 over the
 *    nodes, 5 runs;
 *  - 100 changes/s for a while: p50/p99/max over every (change, node);
 *  - member restart: one member SIGKILLed; a change written just after →
 *    held by all N (the reconnects); the member restarted;
 *  - relist storm: the nodes cut from etcd (iptables in the namespace, their
 *    sockets killed), 100 changes written and etcd compacted meanwhile, the
 *    cut healed → every node relists; time until all hold the newest change,
 *    etcd CPU and peak RSS, without and with relist jitter.
 * Not in the default `npm run bench` (minutes per size, and it loads the
 * whole machine): `node dist-dev/bench/run.js fleet`, or directly
 * `node dist-dev/bench/fleet.js [S:N:direct|proxy[:thin] …]`. The configurations
 * run join those bench/results/fleet.json already holds (one entry per
 * S:N:mode, each stamped with its run's date, load average and commit;
 * `--replace` keeps only this run's), and the plots bench/results/fleet/*.svg
 * are drawn from the merged set. `--import FILE[=COMMIT]` (repeatable, with
 * or without configurations) merges another run's fleet.json in as well;
 * with no configuration nothing runs, only the merge and the plots.
 * `--cpus X` runs the whole fleet capped at X CPUs (bench/fleet/cpu-cap.ts);
 * `--only storm,…` runs only those scenarios after each cold start.
 * `S:N:mode:thin` simulates thin nodes (bench/fleet/thin-node.ts: the same
 * requests to etcd, objects kept as revisions only), so 1,000 nodes at 10k
 * services fit in this machine's memory; their entries are keyed apart
 * from full nodes' (S:N:mode:thin). Each entry says what one node cost
 * etcd over its cold start: Range calls, watch streams and gRPC bytes,
 * the same for thin and full nodes (a grpc-proxy's /metrics page relays a
 * member's, so proxied runs count the proxy's calls on the nodes' behalf).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { DEFAULT_RELIST_JITTER_MS } from '../src/watch/informer.js';
import { sleep } from '../src/runtime/backoff.js';
import { setLogLevel } from '../src/observe/log.js';
import type { KvStore } from '../src/store/kv-store.js';
import { figure, fmt, machine, progress, QUICK, RESULTS_DIR, resultPath, writeResult, type FigureRow } from './figures.js';
import { FleetCluster, type ProcUsage } from './fleet/fleet-cluster.js';
import { FleetNodes, wallNow, type Change } from './fleet/fleet-nodes.js';
import type { NodeDiff } from './fleet/node-worker.js';
import { loadLeases, loadServices, moveEndpoint } from './fleet/fleet-objects.js';
import { svgLinePlot, type Series } from './fleet/svg-plot.js';
import { mergeByConfig, storedResults, type RunStamp } from './fleet/fleet-merge.js';
import { capCpus } from './fleet/cpu-cap.js';
import { grpcTraffic, perNode, sumTraffic, type GrpcTraffic } from './fleet/grpc-traffic.js';

const BENCH = 'fleet';
type Mode = 'direct' | 'proxy';
interface Config {
  services: number;
  nodes: number;
  mode: Mode;
  /** Thin simulated nodes (bench/fleet/thin-node.ts); absent for full ones. */
  thin?: true;
}

const DEFAULT_MATRIX: Config[] = QUICK
  ? [
      { services: 200, nodes: 20, mode: 'direct' },
      { services: 200, nodes: 20, mode: 'proxy' },
    ]
  : [100, 500, 1000]
      .flatMap((nodes) => (['direct', 'proxy'] as const).map((mode) => ({ services: 1000, nodes, mode })))
      .concat([100, 250].flatMap((nodes) => (['direct', 'proxy'] as const).map((mode) => ({ services: 10_000, nodes, mode }))));
const FANOUT_RUNS = 5;
const SUSTAINED_S = QUICK ? 3 : 5;
const RATE = 100;
const WATCHES_PER_NODE = 4;
const NODES_PER_PROCESS = 100;

/** Over the values present: a node that never held a change is counted apart (notSeen). */
const quantile = (xs: ArrayLike<number>, q: number): number => {
  const s = Array.from(xs)
    .filter((x) => !Number.isNaN(x))
    .sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number) : NaN;
};
const load = (): number => Number(loadavg()[0]?.toFixed(1));
const r1 = (x: number): number => Number(x.toFixed(1));

interface Usage {
  cpuS: number;
  peakMb: number;
  rssMb: number;
}
interface Storm {
  jitterMs: number;
  /** Seconds from the heal until every node held the newest change. */
  allS: number;
  p50S: number;
  relists: number;
  notSeen: number;
  /** Nodes whose Endpoints cache differs from etcd once every node held the newest change (or the wait ended). */
  stale: number;
  /** Of those, nodes whose Endpoints informer says it is connected: a cache wrong without knowing it. */
  staleConnected: number;
  /** Seconds from the heal until every node's cache equals etcd and every watch is connected again (NaN: not within RECOVERY_WAIT_MS). */
  recoveredS: number;
  etcd: Usage;
  proxy: Usage;
  load: number;
}
interface ConfigResult extends Config {
  proxies: number;
  processes: number;
  coldStartS: number[];
  coldStartP50S: number[];
  coldEtcd: Usage;
  coldProxy: Usage;
  etcdKbPerWatcher: number;
  proxyKbPerWatcher: number;
  simulatorMbPerNode: number;
  /** One node's share of what etcd's members served over the first cold start (proxied: the proxy's calls on the nodes' behalf). */
  coldTraffic: GrpcTraffic;
  fanoutMs: { p50: number; p99: number; max: number; notSeen: number }[];
  /** Ms from each put's send; `commitP99` is etcd's own share (send → acknowledged). */
  sustained: { p50: number; p99: number; max: number; changes: number; notSeen: number; rate: number; commitP99: number };
  restart: { allS: number; p99S: number; relists: number; reconnects: number };
  storms: Storm[];
  load: Record<string, number>;
  run: RunStamp;
}

/** CPU and memory of a set of processes over one phase. */
class Meter {
  private readonly start: ProcUsage[];
  constructor(
    private readonly cluster: FleetCluster,
    private readonly refs: () => Parameters<FleetCluster['usage']>[0][],
  ) {
    for (const r of refs()) cluster.resetPeak(r);
    this.start = refs().map((r) => cluster.usage(r));
  }
  read(): Usage {
    const now = this.refs().map((r) => this.cluster.usage(r));
    return {
      cpuS: r1(now.reduce((s, u, i) => s + Math.max(0, u.cpuS - (this.start[i]?.cpuS ?? 0)), 0)),
      peakMb: r1(Math.max(0, ...now.map((u) => u.hwmMb))),
      rssMb: r1(now.reduce((s, u) => s + u.rssMb, 0)),
    };
  }
}

async function partition(cluster: FleetCluster, port: number, cut: boolean): Promise<void> {
  const rule = ['INPUT', '-p', 'tcp', '--dport', String(port), '--syn', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
  await execa('ip', ['netns', 'exec', cluster.netns, 'iptables', cut ? '-I' : '-D', ...rule]);
  // Established streams end at once, as when a switch or the proxy's host restarts.
  if (cut) await execa('ip', ['netns', 'exec', cluster.netns, 'ss', '-K', '-t', `( dport = :${port} )`], { reject: false });
}

/**
 * What tells a stalled storm's cause apart (one run with one stream per node stalled, unexplained,
 * #18): nodes with an informer still disconnected, partition rules still in the namespace (a heal
 * that did not happen), and which members and proxies answer a read.
 */
async function stormState(cluster: FleetCluster, port: number, disconnected: number): Promise<string> {
  const rules = await execa('ip', ['netns', 'exec', cluster.netns, 'iptables', '-S', 'INPUT'], { reject: false });
  const left = String(rules.stdout)
    .split('\n')
    .filter((l) => l.includes(`--dport ${port}`)).length;
  const urls = [...cluster.members.map((m) => `http://${m.ip}:2379`), ...cluster.proxies.map((p) => p.url)];
  const silent: string[] = [];
  for (const url of urls) {
    const answer = await cluster.answers(url);
    if (answer !== true) silent.push(`${url} (${answer.split('\n')[0] ?? ''})`);
  }
  return `${disconnected} nodes with a watch disconnected, ${left} partition rule(s) left, ${silent.length ? `not answering: ${silent.join(', ')}` : 'every member and proxy answers'}`;
}

/** How long the bench waits for every node to hold the storm's newest change, and then for every node to be whole again. */
const STORM_WAIT_MS = 120_000;
const RECOVERY_WAIT_MS = 600_000;

async function etcdEndpoints(writer: KvStore): Promise<[string, number][]> {
  return (await writer.list('/registry/services/endpoints/')).entries.map((e) => [e.key, e.modRevision]);
}

/** Seconds from `healedAt` until no node's Endpoints cache differs from etcd and no node has a watch disconnected. */
async function recovery(fleet: FleetNodes, writer: KvStore, healedAt: number): Promise<number> {
  const deadline = healedAt + RECOVERY_WAIT_MS;
  while (wallNow() < deadline) {
    const { disconnected } = await fleet.stats();
    if (disconnected === 0 && (await fleet.diffs(await etcdEndpoints(writer))).length === 0) return r1((wallNow() - healedAt) / 100) / 10;
    await sleep(1_000);
  }
  return NaN;
}

/** What the stale caches hold: objects missing, extra or at another revision, and whether each node knows it is behind. */
function describeDiffs(diffs: readonly NodeDiff[]): string {
  const sum = (f: (d: NodeDiff) => number): number => diffs.reduce((n, d) => n + f(d), 0);
  const older = sum((d) => d.other.filter(([, held, etcd]) => held < etcd).length);
  const first = diffs[0] as NodeDiff;
  const state = first.informers.map(
    (i) => `${i.resource} rev ${i.revision} ${i.connected ? 'connected' : 'disconnected'}, ${i.relists} relists`,
  );
  return `${sum((d) => d.missing.length)} objects missing, ${sum((d) => d.extra.length)} extra, ${older} at an older revision, ${sum((d) => d.other.length) - older} at a newer one over ${diffs.length} nodes; node ${first.id}: ${state.join('; ')}`;
}

async function runConfig(cluster: FleetCluster, writer: KvStore, cfg: Config, tag: string): Promise<ConfigResult> {
  const proxies = cfg.mode === 'proxy' ? Math.max(1, Math.ceil(cfg.nodes / 1000)) : 0;
  const urls: string[] = [];
  for (let i = 0; i < proxies; i++) urls.push(await cluster.startProxy());
  const processes = Math.max(1, Math.ceil(cfg.nodes / NODES_PER_PROCESS));
  const specs = Array.from({ length: cfg.nodes }, (_, id) => ({
    id,
    // Direct: every member, as an agent's --etcd-endpoints lists them; proxied: its rack's proxy.
    endpoints: cfg.mode === 'direct' ? cluster.memberUrls : [urls[id % urls.length] as string],
  }));
  const members = (): Parameters<FleetCluster['usage']>[0][] => cluster.members.map((m) => m.process);
  const proxyRefs = (): Parameters<FleetCluster['usage']>[0][] => cluster.proxies.map((p) => p.process);
  const loads: Record<string, number> = {};
  const etcdTraffic = async (): Promise<GrpcTraffic> =>
    sumTraffic(await Promise.all(cluster.memberUrls.map((u) => grpcTraffic(cluster.netns, `${u}/metrics`))));
  let coldTraffic: GrpcTraffic = { ranges: NaN, watchStreams: NaN, rxBytes: NaN, txBytes: NaN };
  const say = (line: string): void => progress(BENCH, `${tag} ${line} (load ${load()})`);
  const change = async (): Promise<Change> => {
    const at = wallNow();
    return { ...(await moveEndpoint(writer, cfg.services, generation++)), at };
  };

  const coldStartS: number[] = [];
  const coldStartP50S: number[] = [];
  const storms: Storm[] = [];
  let coldEtcd: Usage = { cpuS: 0, peakMb: 0, rssMb: 0 };
  let coldProxy: Usage = coldEtcd;
  let etcdKbPerWatcher = NaN;
  let proxyKbPerWatcher = NaN;
  let simulatorMbPerNode = NaN;
  const fanoutMs: ConfigResult['fanoutMs'] = [];
  let sustained: ConfigResult['sustained'] = { p50: NaN, p99: NaN, max: NaN, changes: 0, notSeen: 0, rate: 0, commitP99: NaN };
  let restart: ConfigResult['restart'] = { allS: NaN, p99S: NaN, relists: 0, reconnects: 0 };

  // Twice: without relist jitter (the figures before issue 18), then with keel's default.
  for (const jitterMs of [0, DEFAULT_RELIST_JITTER_MS]) {
    const fleet = new FleetNodes(cluster.netns, specs, processes, jitterMs, cfg.thin === true);
    try {
      await fleet.spawn();
      const etcdBefore = new Meter(cluster, members);
      const proxyBefore = new Meter(cluster, proxyRefs);
      const trafficBefore = await etcdTraffic();
      const t0 = wallNow();
      // 600 s up to 500 nodes, longer in proportion beyond (a capped 1,000-node fleet at 10k services).
      const startMs = QUICK ? 60_000 : 600_000 * Math.max(1, cfg.nodes / 500);
      if (!(await fleet.start(startMs))) {
        // A fleet that cannot start (the list storm collapsing under CPU starvation, docs/scale.md) ends
        // this fleet's scenarios, not the run: what was measured so far is still written.
        coldStartS.push(NaN);
        coldStartP50S.push(NaN);
        say(
          `jitter ${jitterMs} ms: only ${fleet.syncedAt.size} of ${cfg.nodes} nodes synced within ${startMs / 1000} s; skipping this fleet's scenarios`,
        );
        loads[`cold start (jitter ${jitterMs})`] = load();
        continue;
      }
      const synced = [...fleet.syncedAt.values()].map((t) => (t - t0) / 1000);
      coldStartS.push(r1(Math.max(...synced) * 10) / 10);
      coldStartP50S.push(Number(quantile(synced, 0.5).toFixed(2)));
      say(`jitter ${jitterMs} ms: cold start of ${cfg.nodes} nodes in ${fmt(coldStartS.at(-1) ?? NaN)} s`);
      loads[`cold start (jitter ${jitterMs})`] = load();
      if (jitterMs === 0) {
        coldEtcd = etcdBefore.read();
        coldProxy = proxyBefore.read();
        coldTraffic = perNode(trafficBefore, await etcdTraffic(), cfg.nodes);
        const t = coldTraffic;
        say(
          `per node over the cold start, etcd served ${fmt(t.ranges)} Range calls, ${fmt(t.watchStreams)} watch streams, ${fmt(t.rxBytes)} B in, ${fmt(t.txBytes)} B out`,
        );
        await sleep(2_000);
        const stats = await fleet.stats();
        etcdKbPerWatcher = r1(((etcdBefore.read().rssMb - etcdRssIdle) * 1024) / (cfg.nodes * WATCHES_PER_NODE));
        proxyKbPerWatcher = proxies ? r1((proxyBefore.read().rssMb * 1024) / (cfg.nodes * WATCHES_PER_NODE)) : NaN;
        simulatorMbPerNode = Number((stats.rssMb / cfg.nodes).toFixed(2));

        if (wanted('one-change')) {
          for (let run = 0; run < FANOUT_RUNS; run++) {
            const c = await change();
            const [lat] = await fleet.waitSeen([c], 60_000);
            const xs = lat ?? new Float64Array();
            fanoutMs.push({
              p50: r1(quantile(xs, 0.5)),
              p99: r1(quantile(xs, 0.99)),
              max: r1(quantile(xs, 1)),
              notSeen: xs.filter((x) => Number.isNaN(x)).length,
            });
            if (fanoutMs.at(-1)?.notSeen) say(`${fanoutMs.at(-1)?.notSeen} nodes never held change ${c.rev}`);
            say(
              `one change → ${cfg.nodes} nodes, run ${run + 1}/${FANOUT_RUNS}: p50 ${fmt(fanoutMs.at(-1)?.p50 ?? NaN)} ms, p99 ${fmt(fanoutMs.at(-1)?.p99 ?? NaN)} ms`,
            );
            await sleep(500);
          }
          loads['one change'] = load();
        }

        if (wanted('sustained')) {
          const written: Change[] = [];
          const commits: number[] = [];
          const pending: Promise<void>[] = [];
          const start = performance.now();
          for (let k = 0; k < SUSTAINED_S * RATE; k++) {
            const due = start + (k * 1000) / RATE;
            const wait = due - performance.now();
            if (wait > 0) await sleep(wait);
            pending.push(
              change().then((c) => {
                written.push(c);
                commits.push(wallNow() - c.at);
              }),
            );
          }
          await Promise.all(pending);
          const rate = written.length / ((performance.now() - start) / 1000);
          const all = (await fleet.waitSeen(written, 60_000)).flatMap((xs) => Array.from(xs));
          const seen = all.filter((x) => !Number.isNaN(x));
          sustained = {
            p50: r1(quantile(seen, 0.5)),
            p99: r1(quantile(seen, 0.99)),
            max: r1(quantile(seen, 1)),
            changes: written.length,
            notSeen: all.length - seen.length,
            rate: r1(rate),
            commitP99: r1(quantile(commits, 0.99)),
          };
          say(
            `${fmt(rate)} changes/s for ${SUSTAINED_S} s: p50 ${fmt(sustained.p50)} ms, p99 ${fmt(sustained.p99)} ms, max ${fmt(sustained.max)} ms (etcd commit p99 ${fmt(sustained.commitP99)} ms)`,
          );
          loads['100 changes/s'] = load();
        }

        if (wanted('restart')) {
          const before = await fleet.stats();
          const victim = cluster.members[2];
          if (!victim) throw new Error('no third member');
          const killedAt = wallNow();
          await cluster.kill(victim);
          await sleep(300);
          const probe = await change();
          const [rl] = await fleet.waitSeen([{ ...probe, at: killedAt }], 60_000);
          cluster.launch(victim, 'existing');
          await cluster.waitHealthy([victim]);
          const after = await fleet.stats();
          const xs = rl ?? new Float64Array();
          restart = {
            // A node that never held it leaves no "all nodes" time.
            allS: xs.some((x) => Number.isNaN(x)) ? NaN : r1(quantile(xs, 1) / 100) / 10,
            p99S: r1(quantile(xs, 0.99) / 100) / 10,
            relists: after.relists - before.relists,
            reconnects: after.reconnects - before.reconnects,
          };
          say(
            `member ${victim.name} killed: all nodes held a change written 0.3 s later within ${fmt(restart.allS)} s (${restart.reconnects} reconnects, ${restart.relists} relists)`,
          );
          loads['member restart'] = load();
        }
      }

      // The relist storm.
      if (!wanted('storm')) continue;
      const port = cfg.mode === 'proxy' ? 23790 : 2379;
      const before = await fleet.stats();
      await partition(cluster, port, true);
      await sleep(1_000);
      for (let k = 0; k < 100; k++) await change();
      const probe = await change();
      await writer.compact(probe.rev);
      await sleep(1_000);
      const etcdStorm = new Meter(cluster, members);
      const proxyStorm = new Meter(cluster, proxyRefs);
      const healedAt = wallNow();
      await partition(cluster, port, false);
      const [st] = await fleet.waitSeen([{ ...probe, at: healedAt }], STORM_WAIT_MS);
      // A node still applying its relist is not stale: give every one a moment before comparing.
      await sleep(3_000);
      const checkedAt = wallNow();
      const after = await fleet.stats();
      const diffs = await fleet.diffs(await etcdEndpoints(writer));
      const xs = Array.from(st ?? []);
      const seen = xs.filter((x) => !Number.isNaN(x));
      const notSeen = xs.length - seen.length;
      storms.push({
        jitterMs,
        // Not every node current within the wait: no "all current" time (the recovery time says when).
        allS: notSeen ? NaN : Number((quantile(seen, 1) / 1000).toFixed(2)),
        p50S: Number((quantile(seen, 0.5) / 1000).toFixed(2)),
        relists: after.relists - before.relists,
        notSeen,
        stale: diffs.length,
        staleConnected: diffs.filter((d) => d.informers.find((i) => i.resource === 'endpoints')?.connected).length,
        recoveredS: NaN,
        etcd: etcdStorm.read(),
        proxy: proxyStorm.read(),
        load: load(),
      });
      const storm = storms.at(-1) as Storm;
      const current = notSeen
        ? `only ${cfg.nodes - notSeen} of ${cfg.nodes} nodes current ${STORM_WAIT_MS / 1000} s after the heal`
        : `all ${cfg.nodes} nodes current ${fmt(storm.allS)} s after the heal`;
      say(
        `relist storm, jitter ${jitterMs} ms: ${current} (${storm.relists} relists, ${storm.stale} nodes' caches differ from etcd, ${storm.staleConnected} of them with the Endpoints watch connected; etcd ${fmt(storm.etcd.cpuS)} CPU s, peak ${fmt(storm.etcd.peakMb)} MB)`,
      );
      if (diffs.length) say(`stale caches: ${describeDiffs(diffs)}`);
      say(`after the storm: ${await stormState(cluster, port, after.disconnected)}`);
      storm.recoveredS =
        diffs.length === 0 && after.disconnected === 0 ? r1((checkedAt - healedAt) / 100) / 10 : await recovery(fleet, writer, healedAt);
      say(
        Number.isNaN(storm.recoveredS)
          ? `not recovered ${RECOVERY_WAIT_MS / 1000} s after the heal: ${await stormState(cluster, port, (await fleet.stats()).disconnected)}`
          : `recovered: every node's Endpoints cache equal to etcd and every watch connected ${fmt(storm.recoveredS)} s after the heal`,
      );
    } finally {
      await fleet.stop();
    }
  }
  await cluster.stopProxies();
  return {
    ...cfg,
    proxies,
    processes,
    coldStartS,
    coldStartP50S,
    coldEtcd,
    coldProxy,
    etcdKbPerWatcher,
    proxyKbPerWatcher,
    simulatorMbPerNode,
    coldTraffic,
    fanoutMs,
    sustained,
    restart,
    storms,
    load: loads,
    run: { date: new Date().toISOString(), loadavg: machine().loadavg, commit, ...(cpus === undefined ? {} : { cpus }) },
  };
}

/** Endpoints generations, across configurations: every change differs from what etcd holds (an equal value reaches no consumer). */
let generation = 1;

/** etcd members' RSS with the data loaded and no watcher: the base the per-watcher figure grows from. */
let etcdRssIdle = 0;

/** The tree that ran: what each entry's figures belong to. */
let commit = 'unknown';

/** The run's CPU cap (--cpus), stamped on each entry. */
let cpus: number | undefined;

/** What runs after a fleet's cold start; `--only` picks some (a starved fleet's cold start and storm can take most of an hour). */
const SCENARIOS = ['one-change', 'sustained', 'restart', 'storm'] as const;
type Scenario = (typeof SCENARIOS)[number];
let wanted = (_: Scenario): boolean => true;

interface Args {
  matrix: Config[];
  replace: boolean;
  imports: { file: string; commit: string }[];
  /** The fleet's CPU cap (bench/fleet/cpu-cap.ts); undefined: the whole machine. */
  cpus?: number;
  /** --only: the scenarios to run after each cold start; undefined: all. */
  only?: Set<Scenario>;
}

function parseArgs(): Args {
  const args = process.argv.slice(2);
  const imports: Args['imports'] = [];
  const configs: string[] = [];
  let cap: number | undefined;
  let only: Set<Scenario> | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--import') {
      const [file, at] = (args[++i] ?? '').split('=');
      if (!file) throw new Error('--import wants FILE[=COMMIT]');
      imports.push({ file, commit: at ?? 'unknown' });
    } else if (a === '--cpus') cap = Number(args[++i]);
    else if (a === '--only') only = new Set((args[++i] ?? '').split(',') as Scenario[]);
    else if (a !== '--replace') configs.push(a);
  }
  const replace = args.includes('--replace');
  for (const s of only ?? []) if (!SCENARIOS.includes(s)) throw new Error(`--only: no scenario ${s} (${SCENARIOS.join(', ')})`);
  const capped = { ...(cap === undefined ? {} : { cpus: cap }), ...(only ? { only } : {}) };
  if (!configs.length) return { matrix: imports.length ? [] : DEFAULT_MATRIX, replace, imports, ...capped };
  const matrix = configs.map((a): Config => {
    const [s, n, mode, kind, ...rest] = a.split(':');
    if (!s || !n || (mode !== 'direct' && mode !== 'proxy') || (kind !== undefined && kind !== 'thin') || rest.length)
      throw new Error(`bad configuration ${a}: want SERVICES:NODES:direct|proxy[:thin]`);
    return { services: Number(s), nodes: Number(n), mode, ...(kind ? { thin: true as const } : {}) };
  });
  return { matrix, replace, imports, ...capped };
}

const label = (r: Config): string => `${fmt(r.services)} svc, ${r.nodes} nodes, ${r.mode}${r.thin ? ', thin nodes' : ''}`;

function rows(results: readonly ConfigResult[]): FigureRow[] {
  return results.flatMap((r) => {
    const storm = (j: number): Storm | undefined => r.storms.find((s) => (j ? s.jitterMs > 0 : s.jitterMs === 0));
    const out: FigureRow[] = [
      figure({ figure: 0, name: `cold start, all nodes synced (${label(r)})`, unit: 's', keel: r.coldStartS }),
      figure({
        figure: 0,
        name: `one change → all nodes, p99 (${label(r)})`,
        unit: 'ms',
        keel: r.fanoutMs.map((f) => f.p99),
        ...(r.mode === 'proxy' ? { target: { on: 'keel' as const, op: '<=' as const, value: 1_000 } } : {}),
      }),
      figure({ figure: 0, name: `100 changes/s, p99 (${label(r)})`, unit: 'ms', keel: [r.sustained.p99] }),
    ];
    const s0 = storm(0);
    const s1 = storm(1);
    if (s0 && s1)
      out.push(
        figure({
          figure: 0,
          name: `relist storm, all nodes current, jitter ${DEFAULT_RELIST_JITTER_MS} ms (${label(r)})`,
          unit: 's',
          keel: [s1.allS],
          peer: { name: 'no jitter', samples: [s0.allS] },
          ratio: 'keel/peer',
          target: { on: 'keel', op: '<=', value: 30 },
        }),
      );
    return out;
  });
}

function plots(results: readonly ConfigResult[]): string[] {
  const dir = join(RESULTS_DIR, 'fleet');
  mkdirSync(dir, { recursive: true });
  // Thin nodes' runs are series of their own: never one line with full nodes' runs.
  const group = (r: ConfigResult): string => `${r.services}:${r.mode}${r.thin ? ':thin' : ''}`;
  const groups = [...new Set(results.map(group))].sort();
  const series = (y: (r: ConfigResult) => number, suffix = '', dashed = false): Series[] =>
    groups.map((g) => {
      const [s, mode, thin] = g.split(':');
      const pts = results
        .filter((r) => group(r) === g)
        .sort((a, b) => a.nodes - b.nodes)
        .map((r) => [r.nodes, y(r)] as const);
      return {
        name: `${fmt(Number(s))} svc, ${mode}${thin ? ', thin nodes' : ''}${suffix}`,
        points: pts,
        dashed: dashed || mode === 'proxy',
      };
    });
  const median = (xs: number[]): number => quantile(xs, 0.5);
  const caption = `etcd 3.4, 3 members, ${results[0]?.processes ? 'simulated nodes in worker processes' : ''}; 2 shared cores (load in fleet.json)`;
  const files: [string, Parameters<typeof svgLinePlot>[0]][] = [
    [
      'cold-start.svg',
      {
        title: 'Cold start: all nodes hold the full state',
        xLabel: 'nodes',
        yLabel: 'seconds',
        series: series((r) => median(r.coldStartS)),
        caption,
      },
    ],
    [
      'cold-start-etcd-cpu.svg',
      {
        title: 'Cold start: etcd CPU (3 members)',
        xLabel: 'nodes',
        yLabel: 'CPU seconds',
        series: series((r) => r.coldEtcd.cpuS),
        caption,
      },
    ],
    [
      'one-change.svg',
      {
        title: 'One change → held by all nodes, p99',
        xLabel: 'nodes',
        yLabel: 'ms',
        series: series((r) => median(r.fanoutMs.map((f) => f.p99))),
        target: { y: 1_000, label: 'target 1 s' },
        caption,
      },
    ],
    [
      'sustained.svg',
      { title: '100 changes/s: per (change, node) p99', xLabel: 'nodes', yLabel: 'ms', series: series((r) => r.sustained.p99), caption },
    ],
    [
      'relist-storm.svg',
      {
        title: 'Relist storm after compaction: all nodes current',
        xLabel: 'nodes',
        yLabel: 'seconds after the partition healed',
        series: [
          ...series((r) => r.storms.find((s) => s.jitterMs === 0)?.allS ?? NaN, ', no jitter'),
          ...series((r) => r.storms.find((s) => s.jitterMs > 0)?.allS ?? NaN, `, jitter ${DEFAULT_RELIST_JITTER_MS / 1000} s`, true),
        ],
        target: { y: 30, label: 'target 30 s' },
        caption,
      },
    ],
    [
      'relist-storm-etcd-peak.svg',
      {
        title: 'Relist storm: etcd member peak RSS',
        xLabel: 'nodes',
        yLabel: 'MB (largest member)',
        series: [
          ...series((r) => r.storms.find((s) => s.jitterMs === 0)?.etcd.peakMb ?? NaN, ', no jitter'),
          ...series((r) => r.storms.find((s) => s.jitterMs > 0)?.etcd.peakMb ?? NaN, ', jitter', true),
        ],
        caption,
      },
    ],
    [
      'etcd-memory-per-watcher.svg',
      {
        title: 'etcd RSS growth per watcher',
        xLabel: 'nodes',
        yLabel: 'KB per watch (4 per node)',
        series: series((r) => r.etcdKbPerWatcher),
        caption,
      },
    ],
  ];
  for (const [name, plot] of files) writeFileSync(join(dir, name), svgLinePlot(plot));
  return files.map(([name]) => join(dir, name));
}

/** This run's results joined with the stored and imported ones (see the header). */
function merged(fresh: readonly ConfigResult[], args: Args): ConfigResult[] {
  let all: ConfigResult[] = args.replace ? [] : storedResults<ConfigResult>(resultPath(BENCH));
  for (const i of args.imports) all = mergeByConfig(all, storedResults<ConfigResult>(i.file, i.commit));
  return mergeByConfig(all, fresh);
}

async function main(): Promise<void> {
  setLogLevel('error');
  const args = parseArgs();
  const { matrix } = args;
  const described = await execa('git', ['describe', '--always', '--dirty'], { reject: false });
  if (described.exitCode === 0) commit = String(described.stdout).trim();
  if (!matrix.length) return report(merged([], args));
  cpus = args.cpus;
  const { only } = args;
  if (only) wanted = (s) => only.has(s);
  const uncap = cpus === undefined ? (): void => {} : capCpus(cpus);
  const cluster = new FleetCluster();
  const stopAll = async (): Promise<void> => {
    await cluster.stop();
    uncap();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stopAll().then(() => process.exit(130)));
  await cluster.start();
  const writer = cluster.writer();
  const results: ConfigResult[] = [];
  try {
    await loadLeases(writer, Math.max(...matrix.map((c) => c.nodes)));
    let loaded = 0;
    for (const cfg of [...matrix].sort((a, b) => a.services - b.services)) {
      if (cfg.services > loaded) {
        await loadServices(writer, cfg.services);
        loaded = cfg.services;
        await sleep(2_000);
        etcdRssIdle = cluster.members.reduce((s, m) => s + cluster.usage(m.process).rssMb, 0);
        progress(BENCH, `loaded ${fmt(loaded)} services, endpoints and pods; etcd members ${fmt(etcdRssIdle)} MB RSS in all`);
      }
      results.push(await runConfig(cluster, writer, cfg, `[${label(cfg)}]`));
    }
  } finally {
    writer.close();
    await stopAll();
  }
  report(merged(results, args));
}

/** fleet.json and the plots from every configuration kept. */
function report(results: readonly ConfigResult[]): void {
  const written = plots(results);
  writeResult({
    bench: BENCH,
    figures: rows(results),
    notes: [
      `Simulated keel nodes (ClusterWatch + lease informer, own etcd connection each, ${NODES_PER_PROCESS} per worker process) against a 3-member etcd ${'3.4'} in one network namespace, directly (every member in --etcd-endpoints) or through etcd grpc-proxy (one per 1,000 nodes).`,
      `Each service has an Endpoints of 3 addresses and one Pod; one subnet lease per node. Changes are Endpoints puts. One run per configuration except one change (${FANOUT_RUNS} runs) and cold start (2: without and with relist jitter).`,
      `Relist storm: nodes cut from etcd (iptables REJECT of new connections, ss -K of the open ones), 100 changes and a compaction meanwhile, then healed; without jitter, then with keel's default ${DEFAULT_RELIST_JITTER_MS} ms.`,
      `Thin configurations (S:N:mode:thin, "thin nodes" in figures and plots) simulate each node with keel's real KvStore and Informers over the same prefixes (same connection, paginated lists, shared watch stream, relist/resume/jitter) but keep each object as its mod revision only, leaving out the typed decode, the snapshot and its delivery: their latencies and simulator memory are not an agent's; etcd's and the proxy's figures are (coldTraffic: the same calls and bytes per node as full nodes).`,
      `Configurations come from separate runs (merged by services:nodes:mode, :thin apart); each entry's run (date, load average, commit) is in detail.results[].run, its load averages per phase in detail.results[].load. The simulator shares the 2 cores with etcd, so latencies include its own CPU queueing. Plots: ${written.join(', ')}.`,
    ],
    detail: { results },
  });
}

await main();
