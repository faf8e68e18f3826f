/**
 * bench/results/fleet.json as the union of separate runs: a 1,000-node
 * configuration takes most of an hour, so each run measures a few and its
 * results join the ones already there, one entry per configuration key
 * (services:nodes:mode, plus :thin for thin simulated nodes, so thin and
 * full runs never replace each other), the newer run's entry replacing the older. Every
 * entry carries the run it came from (date, load average, commit), so a
 * figure in docs/scale.md stays traceable to one run.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { BenchResult } from '../figures.js';

/** Which run an entry came from. */
export interface RunStamp {
  /** ISO time the configuration finished. */
  date: string;
  /** The machine's 1-, 5- and 15-minute load averages then. */
  loadavg: number[];
  /** `git describe --always --dirty` of the tree that ran it ('unknown' for files from before the stamp). */
  commit: string;
  /** The fleet's CPU cap (--cpus), when it ran capped. */
  cpus?: number;
}

export interface ConfigKeyed {
  services: number;
  nodes: number;
  mode: string;
  /** Thin simulated nodes (bench/fleet/thin-node.ts); absent for full ones. */
  thin?: true;
  run: RunStamp;
}

const configKey = (c: Omit<ConfigKeyed, 'run'>): string => `${c.services}:${c.nodes}:${c.mode}${c.thin ? ':thin' : ''}`;

/** `fresh` joins `existing`, replacing entries of the same key; ordered by services, mode, full before thin, nodes. */
export function mergeByConfig<T extends ConfigKeyed>(existing: readonly T[], fresh: readonly T[]): T[] {
  const byKey = new Map(existing.map((r) => [configKey(r), r]));
  for (const r of fresh) byKey.set(configKey(r), r);
  return [...byKey.values()].sort(
    (a, b) =>
      a.services - b.services || a.mode.localeCompare(b.mode) || Number(a.thin ?? false) - Number(b.thin ?? false) || a.nodes - b.nodes,
  );
}

/**
 * The configurations a fleet.json holds (none when the file is absent). Entries
 * written before runs were stamped get the file's date and load average, and
 * `commit` (or 'unknown').
 */
export function storedResults<T extends ConfigKeyed>(file: string, commit = 'unknown'): T[] {
  if (!existsSync(file)) return [];
  const stored = JSON.parse(readFileSync(file, 'utf8')) as BenchResult & { detail?: { results?: (Omit<T, 'run'> & { run?: RunStamp })[] } };
  if (stored.bench !== 'fleet') throw new Error(`${file} is a ${stored.bench} result, not the fleet bench's`);
  return (stored.detail?.results ?? []).map(
    (r) => ({ ...r, run: r.run ?? { date: stored.date, loadavg: stored.machine.loadavg, commit } }) as T,
  );
}
