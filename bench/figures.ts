/**
 * The one result format of keel's benchmarks. A figure row holds keel's
 * samples beside its peer's, both measured in the same run on the same
 * machine, the ratio that makes the issue-9 target read naturally, the target
 * and its verdict. Every benchmark writes its rows to
 * bench/results/<name>.json (overwritten each run); `npm run bench` gathers
 * the rows of all benchmarks into one table (renderTable).
 *
 * A new benchmark only has to build rows with `figure(...)` and call
 * `writeResult(...)`: the summary picks up any bench that writes this format.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';

/** KEEL_BENCH_QUICK=1 shrinks sizes and durations (never the number of runs) to prove a bench works end to end. */
export const QUICK = process.env.KEEL_BENCH_QUICK === '1';
/** The prefix of the namespaces a bench makes (a random suffix follows): KEEL_BENCH_NS_TAG, else the bench's own. */
export const nsTag = (fallback: string): string => process.env.KEEL_BENCH_NS_TAG ?? fallback;
/** Every measurement is repeated this often; rows report min/median/max over the runs. */
export const RUNS = 5;
/** Quick runs write beside, never over, the figures of a full run. */
export const RESULTS_DIR = QUICK ? join('bench', 'results', 'quick') : join('bench', 'results');

export interface Spread {
  min: number;
  median: number;
  max: number;
  runs: number;
}

/** `ratio` targets read "keel is ≤ 10% of restore"; `keel` targets bound keel's own median ("p99 ≤ 100 ms"). */
export interface Target {
  on: 'ratio' | 'keel';
  op: '<=' | '>=';
  value: number;
}

export interface FigureRow {
  /** Issue 9's figure number (1–8), which orders the summary; 0 for figures the issue does not list. */
  figure: number;
  name: string;
  unit: string;
  keel: Spread & { samples: number[] };
  /** keel's figure over all runs' observations at once, where the issue defines it so (p99 over 200 changes): the target is judged on it. */
  pooled?: number;
  peer?: Spread & { name: string; samples: number[] };
  /** Median of keel's samples over the peer's median, or the inverse, whichever the target is phrased in. */
  ratio?: { of: 'keel/peer' | 'peer/keel'; median: number };
  target?: Target;
  verdict?: 'PASS' | 'MISS';
  note?: string;
}

export interface BenchResult {
  bench: string;
  date: string;
  quick: boolean;
  machine: Machine;
  /** Seconds the bench process ran. */
  wallS: number;
  figures: FigureRow[];
  /** What was measured and how, one line each: shown under the summary table. */
  notes: string[];
  /** Anything else worth keeping (per-run raw figures, tool output): JSON only. */
  detail?: unknown;
}

export interface Machine {
  cpus: number;
  loadavg: number[];
  node: string;
  kernel: string;
}

export function spread(samples: readonly number[]): Spread {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length / 2;
  const median = s.length % 2 ? (s[Math.floor(mid)] as number) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
  return { min: s[0] ?? NaN, median, max: s.at(-1) ?? NaN, runs: s.length };
}

export interface FigureSpec {
  figure: number;
  name: string;
  unit: string;
  keel: readonly number[];
  pooled?: number;
  peer?: { name: string; samples: readonly number[] };
  ratio?: 'keel/peer' | 'peer/keel';
  target?: Target;
  note?: string;
}

export function figure(spec: FigureSpec): FigureRow {
  const keel = { ...spread(spec.keel), samples: [...spec.keel] };
  const row: FigureRow = { figure: spec.figure, name: spec.name, unit: spec.unit, keel };
  if (spec.pooled !== undefined) row.pooled = spec.pooled;
  if (spec.peer) row.peer = { name: spec.peer.name, ...spread(spec.peer.samples), samples: [...spec.peer.samples] };
  if (spec.ratio && row.peer) {
    const median = spec.ratio === 'keel/peer' ? keel.median / row.peer.median : row.peer.median / keel.median;
    row.ratio = { of: spec.ratio, median };
  }
  if (spec.target) {
    row.target = spec.target;
    const value = spec.target.on === 'ratio' ? row.ratio?.median : (row.pooled ?? keel.median);
    const ok =
      value !== undefined && Number.isFinite(value) && (spec.target.op === '<=' ? value <= spec.target.value : value >= spec.target.value);
    row.verdict = ok ? 'PASS' : 'MISS';
  }
  if (spec.note !== undefined) row.note = spec.note;
  return row;
}

export function machine(): Machine {
  return { cpus: cpus().length, loadavg: loadavg().map((x) => Number(x.toFixed(1))), node: process.version, kernel: release() };
}

/** "[dns] knot run 3/5: 48,123 queries/s": what a long bench is doing, on the terminal. */
export function progress(bench: string, line: string): void {
  process.stdout.write(`[${bench}] ${line}\n`);
}

/** Numbers as a reader wants them: thousands separated, about three significant digits. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

const threeOf = (s: Spread): string => `${fmt(s.min)} / ${fmt(s.median)} / ${fmt(s.max)}${s.runs < RUNS ? ` (${s.runs} runs)` : ''}`;

function targetText(row: FigureRow): string {
  const t = row.target;
  if (!t) return '—';
  const op = t.op === '<=' ? '≤' : '≥';
  if (t.on === 'ratio') return `${row.ratio?.of ?? 'ratio'} ${op} ${t.value}`;
  return `${row.pooled === undefined ? '' : 'pooled '}${op} ${fmt(t.value)} ${row.unit}`;
}

/** The target line of one row, as the benches print it when they finish. */
export function verdictLine(row: FigureRow): string {
  const peer = row.peer ? `, ${row.peer.name} ${fmt(row.peer.median)}` : '';
  const ratio = row.ratio ? `: ${row.ratio.of} = ${fmt(row.ratio.median)}` : '';
  const target = row.target ? ` (target ${targetText(row)})` : '';
  const pooled = row.pooled === undefined ? '' : ` (pooled ${fmt(row.pooled)})`;
  return `${row.verdict ?? '    '} ${row.name}: keel ${fmt(row.keel.median)} ${row.unit}${pooled}${peer}${ratio}${target}`;
}

/** One markdown table; min / median / max over the runs (and the pooled figure where there is one), the ratio of the medians. */
export function renderTable(rows: readonly FigureRow[]): string {
  const head = [
    '#',
    'figure',
    'unit',
    'keel min / median / max',
    'peer',
    'peer min / median / max',
    'ratio (medians)',
    'target',
    'verdict',
  ];
  const lines = rows.map((r) => [
    r.figure ? String(r.figure) : '',
    r.note ? `${r.name} (${r.note})` : r.name,
    r.unit,
    `${threeOf(r.keel)}${r.pooled === undefined ? '' : `; pooled ${fmt(r.pooled)}`}`,
    r.peer?.name ?? '—',
    r.peer ? threeOf(r.peer) : '—',
    r.ratio ? `${r.ratio.of} ${fmt(r.ratio.median)}` : '—',
    targetText(r),
    r.verdict ? `**${r.verdict}**` : '',
  ]);
  return [head, head.map(() => '---'), ...lines].map((cells) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`).join('\n');
}

/** Orders rows as issue 9 lists the figures; the issue's unnumbered extras last, each bench's own order kept. */
export function inIssueOrder(rows: readonly FigureRow[]): FigureRow[] {
  const key = (r: FigureRow): number => (r.figure > 0 ? r.figure : Number.MAX_SAFE_INTEGER);
  return [...rows].sort((a, b) => key(a) - key(b));
}

export function resultPath(bench: string): string {
  return join(RESULTS_DIR, `${bench}.json`);
}

/** Writes bench/results/<bench>.json and prints the rows' verdicts. */
export function writeResult(result: Omit<BenchResult, 'date' | 'quick' | 'machine' | 'wallS'>): void {
  const full: BenchResult = {
    ...result,
    date: new Date().toISOString(),
    quick: QUICK,
    machine: machine(),
    wallS: Math.round(process.uptime()),
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(resultPath(result.bench), `${JSON.stringify(full, null, 2)}\n`);
  for (const row of full.figures) progress(result.bench, verdictLine(row));
  progress(result.bench, `wrote ${resultPath(result.bench)}`);
}

export function readResult(bench: string): BenchResult {
  return JSON.parse(readFileSync(resultPath(bench), 'utf8')) as BenchResult;
}
