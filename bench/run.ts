/**
 * `npm run bench`: every benchmark in bench/, one after another (they load
 * the same two cores, so never in parallel), then ONE summary table of all
 * their figures in issue-9 order: bench/results/<date>.md and <date>.json,
 * and bench/results/latest.md (the committed table) when every bench ran.
 * `node dist-dev/bench/run.js NAME…` runs a subset (after `npm run build && npm run build:dev`);
 * `npm run bench -- fleet` runs the fleet bench, which only runs when named
 * (tens of minutes, and it loads the whole machine).
 * `npm run bench -- --resume` reruns only the benches that gave no figures in
 * today's run and writes the whole summary again, so one failed bench does
 * not cost a half-hour rerun of the others.
 *
 * Each benchmark measures keel beside its peer in the same run and writes
 * bench/results/<name>.json in the format of figures.ts; this runner only
 * sequences the benches and gathers their rows.
 */
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  inIssueOrder,
  machine,
  progress,
  QUICK,
  readResult,
  renderTable,
  resultPath,
  RESULTS_DIR,
  verdictLine,
  type BenchResult,
} from './figures.js';

const BENCHES = [
  'proxy-iptables',
  'proxy-nftables',
  'agent-programming',
  'proxy-connection-rate',
  'dns',
  'proxy-userspace',
  'overlay',
  'lease-routing',
  'watch-latency',
];
/** Run only when named. */
const OPT_IN = ['fleet'];

interface Ran {
  name: string;
  wallS: number;
  exitCode: number | undefined;
  result: BenchResult | undefined;
  /** Taken from an earlier run of the same day (--resume). */
  earlier?: true;
}

/** The benches of today's earlier run that gave figures, by name. */
function earlierRun(date: string): Map<string, Ran> {
  let benches: Ran[];
  try {
    benches = (JSON.parse(readFileSync(join(RESULTS_DIR, `${date}.json`), 'utf8')) as { benches: Ran[] }).benches;
  } catch {
    return new Map();
  }
  return new Map(benches.filter((r) => r.result).map((r) => [r.name, { ...r, earlier: true }]));
}

async function runOne(name: string, at: number, of: number): Promise<Ran> {
  process.stdout.write(`\n== bench ${at}/${of}: ${name} ==\n`);
  const started = Date.now();
  // Compiled, as users run keel: under vite-node the compiler alone is about 3× slower.
  const res = await execa('node', [`dist-dev/bench/${name}.js`], { stdio: 'inherit', reject: false });
  const wallS = Math.round((Date.now() - started) / 1000);
  // Only a result written by this run counts: an older file would put stale figures in the table.
  const fresh = (() => {
    try {
      return statSync(resultPath(name)).mtimeMs >= started;
    } catch {
      return false;
    }
  })();
  const result = fresh ? readResult(name) : undefined;
  const outcome = res.exitCode !== 0 ? `FAILED (exit ${res.exitCode})` : result ? 'done' : `wrote no ${resultPath(name)}`;
  process.stdout.write(`== ${name}: ${outcome} in ${fmtDuration(wallS)} ==\n`);
  return { name, wallS, exitCode: res.exitCode, result };
}

const fmtDuration = (s: number): string => (s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s} s`);

function summary(date: string, ran: readonly Ran[]): string {
  const m = machine();
  const rows = inIssueOrder(ran.flatMap((r) => r.result?.figures ?? []));
  const total = ran.reduce((sum, r) => sum + r.wallS, 0);
  return [
    `# keel benchmarks, ${date}${QUICK ? ' (KEEL_BENCH_QUICK=1: reduced sizes, not figures to quote)' : ''}`,
    '',
    `${m.cpus} CPUs, Linux ${m.kernel}, Node.js ${m.node}; all benches took ${fmtDuration(total)}.`,
    'Each figure is keel beside its peer measured in the same run on this machine: min / median / max over the runs,',
    "the ratio is of the two medians, the target is issue 9's (a MISS never fails the run).",
    '',
    renderTable(rows),
    '',
    '## How each was measured',
    '',
    ...ran.flatMap((r) => [
      `### ${r.name} (${fmtDuration(r.wallS)}${r.result ? `, load average ${r.result.machine.loadavg.join(' ')} at the end` : ''}${r.earlier ? ', from the earlier run' : ''})`,
      '',
      ...(r.result ? r.result.notes.map((n) => `- ${n}`) : [`- no results: exit ${String(r.exitCode)}`]),
      '',
    ]),
  ].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args.filter((a) => a !== '--resume');
  const known = [...BENCHES, ...OPT_IN];
  const unknown = only.filter((b) => !known.includes(b));
  if (unknown.length) throw new Error(`no such bench: ${unknown.join(', ')} (have: ${known.join(', ')})`);
  const selected = only.length ? known.filter((b) => only.includes(b)) : BENCHES;
  const date = new Date().toISOString().slice(0, 10);
  const earlier = args.includes('--resume') ? earlierRun(date) : new Map<string, Ran>();
  const ran: Ran[] = [];
  for (const [i, name] of selected.entries()) {
    const done = earlier.get(name);
    if (done) progress('summary', `${name}: figures from today's earlier run`);
    ran.push(done ?? (await runOne(name, i + 1, selected.length)));
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  const md = summary(date, ran);
  const mdPath = join(RESULTS_DIR, `${date}.md`);
  writeFileSync(mdPath, `${md}\n`);
  const figures = inIssueOrder(ran.flatMap((r) => r.result?.figures ?? []));
  writeFileSync(
    join(RESULTS_DIR, `${date}.json`),
    `${JSON.stringify({ date, machine: machine(), quick: QUICK, benches: ran, figures }, null, 2)}\n`,
  );
  process.stdout.write('\n');
  for (const row of figures) progress('summary', verdictLine(row));
  const missing = ran.filter((r) => !r.result).map((r) => r.name);
  if (missing.length) progress('summary', `no figures from: ${missing.join(', ')}`);
  if (selected.length === BENCHES.length) {
    copyFileSync(mdPath, join(RESULTS_DIR, 'latest.md'));
    progress(
      'summary',
      `${mdPath} (also ${join(RESULTS_DIR, 'latest.md')}), ${figures.length} figures, ${figures.filter((f) => f.verdict === 'MISS').length} MISS`,
    );
  } else {
    progress('summary', `${mdPath}, ${figures.length} figures (a subset: latest.md is left as it was)`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
