/**
 * `--cpus X` of the fleet bench: the whole fleet — this process and every
 * process it starts (etcd members, grpc-proxies, simulator workers) — in a
 * cpu cgroup of its own, capped at X CPUs and given the largest weight. A run
 * then measures the same machine whatever else runs beside it, and a starved
 * fleet (X well below what it needs) is a figure one can reproduce rather
 * than the accident of a loaded host (docs/scale.md: the list-storm collapse
 * was first seen at load ~30).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PERIOD_US = 100_000;

interface Layout {
  dir: string;
  parent: string;
  apply(dir: string, cpus: number): void;
}

/** cgroup v1's cpu controller where it is mounted apart (this machine), else the v2 unified tree. */
function layout(name: string): Layout {
  const v1 = '/sys/fs/cgroup/cpu';
  if (existsSync(join(v1, 'cpu.cfs_quota_us')))
    return {
      dir: join(v1, name),
      parent: v1,
      apply(dir, cpus) {
        writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Math.round(cpus * PERIOD_US)));
        writeFileSync(join(dir, 'cpu.shares'), '262144');
      },
    };
  const v2 = '/sys/fs/cgroup';
  if (existsSync(join(v2, 'cgroup.controllers')) && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').includes('cpu')) {
    writeFileSync(join(v2, 'cgroup.subtree_control'), '+cpu');
    return {
      dir: join(v2, name),
      parent: v2,
      apply(dir, cpus) {
        writeFileSync(join(dir, 'cpu.max'), `${Math.round(cpus * PERIOD_US)} ${PERIOD_US}`);
        writeFileSync(join(dir, 'cpu.weight'), '10000');
      },
    };
  }
  throw new Error('--cpus: no cgroup cpu controller found (neither /sys/fs/cgroup/cpu nor cgroup v2 with cpu)');
}

/** Moves this process into a new capped cgroup; the returned function moves it back and removes the cgroup. */
export function capCpus(cpus: number): () => void {
  if (!(cpus > 0)) throw new Error(`--cpus wants a positive number of CPUs, got ${cpus}`);
  const l = layout(`keel-fleet-${process.pid}`);
  mkdirSync(l.dir);
  l.apply(l.dir, cpus);
  writeFileSync(join(l.dir, 'cgroup.procs'), String(process.pid));
  return () => {
    writeFileSync(join(l.parent, 'cgroup.procs'), String(process.pid));
    try {
      rmdirSync(l.dir);
    } catch (e) {
      process.stderr.write(`[fleet] cgroup ${l.dir} left behind: ${(e as Error).message}\n`);
    }
  };
}
