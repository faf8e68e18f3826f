/**
 * `npm run bench`: every benchmark in bench/, one after another (they load
 * the same two cores, so never in parallel), then one dated summary that
 * puts the figures each wrote side by side:
 * bench/results/<date>.md and <date>.json.
 *
 * Each benchmark measures keel beside its peer in the same run and writes
 * its own results; this runner only sequences and collects them.
 */
import { execa } from 'execa';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BENCHES = ['proxy-iptables', 'agent-programming', 'watch-latency', 'dns', 'proxy-userspace', 'overlay'] as const;
const RESULTS = 'bench/results';

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const selected = only.length ? BENCHES.filter((b) => only.includes(b)) : [...BENCHES];
  mkdirSync(RESULTS, { recursive: true });
  const produced: Record<string, string[]> = {};
  for (const name of selected) {
    const before = new Set(readdirSync(RESULTS));
    process.stdout.write(`\n== bench ${name} ==\n`);
    const started = Date.now();
    // Compiled, as users run keel: under vite-node the compiler alone is about 3× slower.
    const res = await execa('node', [`dist/bench/${name}.js`], { stdio: 'inherit', reject: false });
    process.stdout.write(`== ${name}: ${res.exitCode === 0 ? 'done' : `FAILED (exit ${res.exitCode})`} in ${((Date.now() - started) / 1000).toFixed(0)} s ==\n`);
    produced[name] = readdirSync(RESULTS).filter((f) => !before.has(f) || f === `${name}.json`).sort();
  }
  const stamp = new Date().toISOString().slice(0, 10);
  const sections = Object.entries(produced).map(([name, files]) => {
    const md = files.filter((f) => f.endsWith('.md')).map((f) => readFileSync(join(RESULTS, f), 'utf8').trim());
    const json = files.filter((f) => f.endsWith('.json'));
    const body = md.length ? md.join('\n\n') : json.length ? '```json\n' + readFileSync(join(RESULTS, json[0] as string), 'utf8').trim() + '\n```' : '_no results written_';
    return `## ${name}\n\n${body}\n`;
  });
  writeFileSync(join(RESULTS, `${stamp}.md`), `# keel benchmarks, ${stamp}\n\nEach figure is beside its peer measured in the same run on this machine.\n\n${sections.join('\n')}`);
  const index = Object.fromEntries(Object.entries(produced).map(([name, files]) => [name,
    files.filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(RESULTS, f), 'utf8')) as unknown)]));
  writeFileSync(join(RESULTS, `${stamp}.json`), `${JSON.stringify(index, null, 2)}\n`);
  process.stdout.write(`\nsummary: ${RESULTS}/${stamp}.md\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
