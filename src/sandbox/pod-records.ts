import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessRef } from './processes.js';

/** What the pod runner made for one pod; enough to tear it down after any crash. */
export interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  netns: string;
  podIP?: string;
  /** Every address CNI gave the pod, one per family, `podIP` first (absent in records made before dual-stack: `[podIP]`). */
  podIPs?: string[];
  processes: ProcessRef[];
  /** What runs for each container, in the order of `processes` (`nginx`, `redis-server`, `stand-in:http`, …). */
  programs?: string[];
  /** The environment every container got (service variables, POD_*), for `keel exec`. */
  env?: Record<string, string>;
  startedAt: string;
}

function podsDir(runDir: string): string {
  return join(runDir, 'pods');
}

function podRecordPath(runDir: string, namespace: string, name: string): string {
  return join(podsDir(runDir), `${namespace}_${name}.json`);
}

/** The pod's own directory: one subdirectory per container (working directory, configuration, data, pid file). */
export function podDir(runDir: string, namespace: string, name: string): string {
  return join(podsDir(runDir), `${namespace}_${name}`);
}

export function podLogPath(runDir: string, namespace: string, name: string): string {
  return join(runDir, 'logs', 'pods', `${namespace}_${name}.log`);
}

export function writePodRecord(runDir: string, rec: PodRecord): void {
  mkdirSync(podsDir(runDir), { recursive: true });
  const path = podRecordPath(runDir, rec.namespace, rec.name);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(rec, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function removePodRecord(runDir: string, namespace: string, name: string): void {
  rmSync(podRecordPath(runDir, namespace, name), { force: true });
}

export function readPodRecord(runDir: string, namespace: string, name: string): PodRecord | undefined {
  try {
    return JSON.parse(readFileSync(podRecordPath(runDir, namespace, name), 'utf8')) as PodRecord;
  } catch {
    return undefined;
  }
}

export function listPodRecords(runDir: string): PodRecord[] {
  let names: string[];
  try {
    names = readdirSync(podsDir(runDir));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .sort()
    .flatMap((n) => {
      try {
        return [JSON.parse(readFileSync(join(podsDir(runDir), n), 'utf8')) as PodRecord];
      } catch {
        return [];
      }
    });
}
