/**
 * proxy-iptables figures, with the kernel tools as the peer in the same run:
 *  (1) compile (compileRules + renderRestore) for 1k, 10k and 30k services ×
 *      5 endpoints, beside iptables-restore loading the same text into a
 *      fresh namespace (nft and legacy); the runs interleave compile, nft and
 *      legacy so that load on the machine hits all three alike. Compile is
 *      given twice: warm (this process has compiled the same size twice
 *      before, as an agent has on every sync after its first) and cold (the
 *      first compile in a fresh Node.js process, as after an agent start: V8
 *      has not optimised the compiler yet and no chain name is remembered);
 *      a cold sample is a child process, run between the warm runs;
 *  (2) keel's sync loop taking over the nft namespace holding those rules (as
 *      after an agent restart): a one-endpoint change through partial sync,
 *      beside the same kind of change through a full resync (iptables-save +
 *      diff + send what differs); at 1k and 10k (a full resync at 30k is
 *      minutes of iptables-nft-save per run).
 * Targets (issue 9): compile ≤ 10% of restore; partial ≤ 5% of full.
 * Writes bench/results/proxy-iptables.json (figures.ts). Run as root from the
 * repository root, compiled (vite-node's module runner slows the compiler):
 *   npm run build && npm run build:dev && node dist-dev/bench/proxy-iptables.js [sizes…]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Endpoints } from '../src/api/endpoints.js';
import type { Service } from '../src/api/service.js';
import { RestoreRunner, type IptablesBackend } from '../src/kernel/iptables/restore-runner.js';
import { setLogLevel } from '../src/observe/log.js';
import { compileRules, DEFAULT_MASQUERADE_BIT, type NodeConfig } from '../src/proxy-iptables/compile.js';
import { renderRestore } from '../src/proxy-iptables/render-restore.js';
import { SyncLoop } from '../src/proxy-iptables/sync-loop.js';
import { makeEndpoints, snapshotOf } from '../src/api/testing/object-builders.js';
import { cluster } from './bench-cluster.js';
import { figure, fmt, nsTag, progress, QUICK, RUNS, spread, writeResult, type FigureRow } from './figures.js';

const BENCH = 'proxy-iptables';
const SIZES = QUICK ? [200, 1000] : [1000, 10_000, 30_000];
/** Sizes at which partial and full sync are compared. */
const SYNC_MAX = 10_000;
const BACKENDS = ['nft', 'legacy'] as const satisfies readonly IptablesBackend[];

setLogLevel('error');
const node: NodeConfig = { nodeName: 'node-1', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
const run = randomBytes(2).toString('hex');
const made = new Set<string>();
let nsCount = 0;

async function netns(role: string): Promise<string> {
  const ns = `${nsTag('kp')}-${run}-${role}${nsCount++}`;
  await execa('ip', ['netns', 'add', ns]);
  made.add(ns);
  return ns;
}

async function dropNetns(ns: string): Promise<void> {
  await execa('ip', ['netns', 'del', ns], { reject: false });
  made.delete(ns);
}

/**
 * CPU milliseconds of this process plus its waited-for children (the
 * iptables tools run as children; their kernel work is their system time):
 * steadier than wall time when the machine is shared.
 */
function cpuNow(): number {
  const self = process.cpuUsage();
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const childTicks = Number(fields[13]) + Number(fields[14]);
  return (self.user + self.system) / 1000 + childTicks * 10;
}

interface Timed {
  wall: number[];
  cpu: number[];
}
const timed = (): Timed => ({ wall: [], cpu: [] });

async function time<T>(into: Timed, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  const c0 = cpuNow();
  const v = await fn();
  into.wall.push(Number((performance.now() - t0).toFixed(1)));
  into.cpu.push(Number((cpuNow() - c0).toFixed(1)));
  return v;
}

const last = (t: Timed): string => `${fmt(t.wall.at(-1) ?? NaN)} ms (CPU ${fmt(t.cpu.at(-1) ?? NaN)} ms)`;
const cpuRatio = (keel: Timed, peer: Timed): string => `CPU ratio ${fmt(spread(keel.cpu).median / spread(peer.cpu).median)}`;
const sizeName = (n: number): string => (n >= 1000 ? `${n / 1000}k` : String(n));

interface SizeResult {
  rows: FigureRow[];
  detail: Record<string, unknown>;
}

const COLD = '--cold-compile';

/** In a fresh process (`--cold-compile n`): the first compile of n services, printed as JSON { wall, cpu } (ms). */
function coldCompileChild(n: number): void {
  const { services, eps } = cluster(n);
  const snap = snapshotOf(services, eps);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  renderRestore(compileRules(snap, node));
  const c = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 }));
}

async function coldCompile(n: number, into: Timed): Promise<void> {
  const { stdout } = await execa(process.execPath, [fileURLToPath(import.meta.url), COLD, String(n)]);
  const r = JSON.parse(stdout) as { wall: number; cpu: number };
  into.wall.push(Number(r.wall.toFixed(1)));
  into.cpu.push(Number(r.cpu.toFixed(1)));
}

async function measure(n: number): Promise<SizeResult> {
  const tag = `${sizeName(n)} services`;
  const { services, eps } = cluster(n);
  const snap = snapshotOf(services, eps);
  const compile = timed();
  const cold = timed();
  const restore: Record<IptablesBackend, Timed> = { nft: timed(), legacy: timed() };
  let loaded = '';
  // Unmeasured: from here this process compiles warm, as an agent does on every sync after its first few
  // (12 compiles of 1k in one process took 450 and 398 ms CPU, then 50–223 ms from the third on).
  let text = '';
  for (let i = 0; i < 2; i++) text = renderRestore(compileRules(snap, node));
  for (let i = 1; i <= RUNS; i++) {
    await coldCompile(n, cold);
    progress(BENCH, `${tag}: cold compile (fresh process) run ${i}/${RUNS}: ${last(cold)}`);
    text = await time(compile, () => renderRestore(compileRules(snap, node)));
    progress(BENCH, `${tag}: warm compile run ${i}/${RUNS}: ${last(compile)}`);
    for (const backend of BACKENDS) {
      // The namespace is fresh, so a plain (flushing) restore loads exactly what --noflush would.
      const ns = await netns(`${backend}${n}-`);
      await time(restore[backend], () => new RestoreRunner({ backend, netns: ns }).restore(text, { noflush: false }));
      progress(BENCH, `${tag}: iptables-${backend}-restore run ${i}/${RUNS}: ${last(restore[backend])}`);
      // The sync loop takes over the last nft namespace; the others go at once, so that no run pays for the tables of earlier ones.
      if (backend === 'nft' && i === RUNS && n <= SYNC_MAX) loaded = ns;
      else await dropNetns(ns);
    }
  }
  const rules = text.split('\n').filter((l) => l.startsWith('-A')).length;
  const scale = `${tag} × 5 endpoints (${fmt(rules)} rules, ${(text.length / 1e6).toFixed(1)} MB)`;
  const compileRow = (kind: string, keel: Timed, backend: IptablesBackend): FigureRow =>
    figure({
      figure: 1,
      name: `compile (${kind}) vs iptables-${backend}-restore load, ${scale}`,
      unit: 'ms',
      keel: keel.wall,
      peer: { name: `iptables-${backend}-restore`, samples: restore[backend].wall },
      ratio: 'keel/peer',
      target: { on: 'ratio', op: '<=', value: 0.1 },
      note: cpuRatio(keel, restore[backend]),
    });
  const rows = [
    ...BACKENDS.map((backend) => compileRow('warm', compile, backend)),
    compileRow('cold: first in a fresh process', cold, 'nft'),
  ];
  const detail: Record<string, unknown> = { services: n, rules, inputMB: Number((text.length / 1e6).toFixed(1)), compile, cold, restore };
  if (loaded) {
    const sync = await syncFigures(tag, services, eps, loaded);
    rows.push(sync.row);
    Object.assign(detail, sync.detail);
    await dropNetns(loaded);
  }
  return { rows, detail };
}

async function syncFigures(
  tag: string,
  services: Service[],
  eps: Endpoints[],
  ns: string,
): Promise<{ row: FigureRow; detail: Record<string, unknown> }> {
  const loop = new SyncLoop({ runner: new RestoreRunner({ backend: 'nft', netns: ns }), node });
  const none = { services: new Set<string>(), endpoints: new Set<string>(), pods: new Set<string>() };
  loop.update(snapshotOf(services, eps), { ...none, full: true });
  const takeover = timed();
  const first = await time(takeover, () => loop.sync());
  // Equal but for the two KUBE-KEEL-CANARY chains (nat, filter), which renderRestore leaves to the sync loop.
  if (first.written > 2 || first.deleted !== 0) throw new Error(`first resync should find the kernel equal: ${JSON.stringify(first)}`);
  progress(BENCH, `${tag}: takeover resync (nothing to change): ${last(takeover)}`);
  const changed = (i: number): Endpoints[] => {
    const copy = [...eps];
    const e = eps[0] as Endpoints;
    copy[0] = makeEndpoints('bench', 'svc-0', e.subsets[0]?.addresses.map((a, j) => ({ ip: j === 0 ? `10.250.${i}.1` : a.ip })) ?? [], [
      { name: 'http', port: 8080 },
    ]);
    return copy;
  };
  const partial = timed();
  const full = timed();
  let change = 0;
  for (let i = 1; i <= RUNS; i++) {
    for (const [kind, into] of [
      ['partial', partial],
      ['full', full],
    ] as const) {
      loop.update(snapshotOf(services, changed(change++)), { ...none, endpoints: new Set(['bench/svc-0']), full: kind === 'full' });
      const res = await time(into, () => loop.sync());
      // One new SEP chain, the service chain rewritten, the old SEP chain deleted: nothing else may move.
      if (res.kind !== kind || res.written !== 2 || res.deleted !== 1) throw new Error(`unexpected ${kind} sync ${JSON.stringify(res)}`);
      progress(BENCH, `${tag}: ${kind} sync of a one-endpoint change, run ${i}/${RUNS}: ${last(into)}`);
    }
  }
  const row = figure({
    figure: 2,
    name: `partial vs full sync, one endpoint changed, ${tag} (nft)`,
    unit: 'ms',
    keel: partial.wall,
    peer: { name: 'keel full resync', samples: full.wall },
    ratio: 'keel/peer',
    target: { on: 'ratio', op: '<=', value: 0.05 },
    note: cpuRatio(partial, full),
  });
  return { row, detail: { takeover, partial, full } };
}

async function removeNamespaces(): Promise<void> {
  for (const ns of [...made]) await dropNetns(ns);
}

async function main(): Promise<void> {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void removeNamespaces().finally(() => process.exit(130)));
  }
  const asked = process.argv
    .slice(2)
    .map(Number)
    .filter((x) => x > 0);
  const sizes = asked.length ? asked : SIZES;
  const results: SizeResult[] = [];
  try {
    for (const n of sizes) results.push(await measure(n));
  } finally {
    await removeNamespaces();
  }
  const iptables = (await execa('iptables', ['--version'])).stdout;
  // Figure 1 rows first, then figure 2, each by size.
  const rows = results.flatMap((r) => r.rows).sort((a, b) => a.figure - b.figure);
  writeResult({
    bench: BENCH,
    figures: rows,
    notes: [
      `${iptables}; sizes ${sizes.map(sizeName).join(', ')} services × 5 endpoints (one port each), ${RUNS} runs of each measurement, wall time.`,
      'compile = compileRules + renderRestore in one Node.js thread; warm = after two unmeasured compiles of the same size in the bench process (an agent compiles on every sync); cold = the first compile in a fresh Node.js process (modules loaded, compiler not yet optimised, no chain name remembered: once per agent start); restore = iptables-{nft,legacy}-restore of the same text into a fresh netns; each run interleaves cold, warm, nft and legacy.',
      `sync = keel's SyncLoop (nft) taking over the namespace the last nft restore loaded; partial = one endpoint of one service changed (writes its two chains, deletes one); full = the same kind of change through a full resync (iptables-nft-save of nat and filter, diff every chain, send what differs); partial and full alternate; up to ${sizeName(SYNC_MAX)} services.`,
      'The "CPU ratio" beside a figure is the same ratio in CPU time (keel plus the iptables tools it ran, user+sys), which a loaded machine moves less than wall time.',
    ],
    detail: results.map((r) => r.detail),
  });
}

await (process.argv[2] === COLD ? Promise.resolve(coldCompileChild(Number(process.argv[3]))) : main());
