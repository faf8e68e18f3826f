/**
 * proxy-iptables figures, with the kernel tools as the peer in the same run:
 *  - compile (compileRules + renderRestore) for 1,000 and 10,000 services × 5
 *    endpoints, beside iptables-restore loading the same text into a fresh
 *    namespace (nft, and legacy);
 *  - keel's sync loop taking over the nft namespace holding those rules: a
 *    resync that finds nothing to do, a one-endpoint change through partial
 *    sync, and the same change through a full resync (iptables-save + diff +
 *    send what differs), beside the full load.
 * Targets (issue 4): compile ≤ 10% of restore; partial sync ≤ 5% of full.
 * Writes bench/results/proxy-iptables-<timestamp>.{json,md}.
 * Run as root from the repository root, compiled (vite-node's module runner slows the compiler):
 *   npm run build && node dist/bench/proxy-iptables.js [sizes…]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Endpoints } from '../src/api/endpoints.js';
import type { Service } from '../src/api/service.js';
import { RestoreRunner, type IptablesBackend } from '../src/iptables/restore-runner.js';
import { setLogLevel } from '../src/observe/log.js';
import { compileRules, DEFAULT_MASQUERADE_BIT, type NodeConfig } from '../src/proxy-iptables/compile.js';
import { renderRestore } from '../src/proxy-iptables/render-restore.js';
import { SyncLoop } from '../src/proxy-iptables/sync-loop.js';
import { makeEndpoints, makeService, snapshotOf } from '../src/proxy-iptables/test-builders.js';

setLogLevel('error');
const node: NodeConfig = { nodeName: 'node-1', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
const run = randomBytes(2).toString('hex');
const made: string[] = [];

async function netns(role: string): Promise<string> {
  const ns = `kp-${run}-${role}`;
  await execa('ip', ['netns', 'add', ns]);
  made.push(ns);
  return ns;
}

function cluster(n: number, endpoints = 5): { services: Service[]; eps: Endpoints[] } {
  const services: Service[] = [];
  const eps: Endpoints[] = [];
  for (let i = 0; i < n; i++) {
    const name = `svc-${i}`;
    services.push(makeService('bench', name, (s) => {
      s.clusterIP = `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`;
      s.ports = [{ name: 'http', port: 80, targetPort: 8080 }];
    }));
    eps.push(makeEndpoints('bench', name, Array.from({ length: endpoints }, (_, j) => {
      const k = i * endpoints + j;
      return { ip: `10.244.${Math.floor(k / 250) % 256}.${(k % 250) + 1}`, node: `node-${j}` };
    }), [{ name: 'http', port: 8080 }]));
  }
  return { services, eps };
}

/**
 * CPU milliseconds of this process plus its waited-for children (the
 * iptables tools run as children; their kernel work is their system time).
 * The machine is shared and often loaded, so CPU time is the figure that
 * compares; wall time is reported beside it.
 */
function cpuNow(): number {
  const self = process.cpuUsage();
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const childTicks = Number(fields[13]) + Number(fields[14]);
  return (self.user + self.system) / 1000 + childTicks * 10;
}

async function time<T>(fn: () => Promise<T> | T): Promise<[number, T, number]> {
  const t0 = performance.now();
  const c0 = cpuNow();
  const v = await fn();
  return [performance.now() - t0, v, cpuNow() - c0];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const r = (ms: number): number => Number(ms.toFixed(1));

async function measure(n: number): Promise<Record<string, number>> {
  const { services, eps } = cluster(n);
  const snap = snapshotOf(services, eps);
  const compiles: number[] = [];
  const compileCpu: number[] = [];
  let text = '';
  for (let i = 0; i < 3; i++) {
    const [ms, t, cpu] = await time(() => renderRestore(compileRules(snap, node)));
    compiles.push(ms);
    compileCpu.push(cpu);
    text = t;
  }
  const out: Record<string, number> = {
    services: n, rules: text.split('\n').filter((l) => l.startsWith('-A')).length, inputMB: Number((text.length / 1e6).toFixed(1)),
    compileMs: r(median(compiles)), compileCpuMs: r(median(compileCpu)),
  };
  const nftNs = await netns(`nft${n}`);
  for (const [backend, ns] of [['nft', nftNs], ['legacy', await netns(`leg${n}`)]] as [IptablesBackend, string][]) {
    // The namespace is fresh, so a plain (flushing) restore loads exactly what --noflush would.
    const [ms, , cpu] = await time(() => new RestoreRunner({ backend, netns: ns }).restore(text, { noflush: false }));
    out[`restore_${backend}_ms`] = r(ms);
    out[`restore_${backend}_cpuMs`] = r(cpu);
  }
  if (n <= 2000) {
    // keel's own first sync into an empty namespace: --noflush, which iptables-nft makes several times dearer.
    const fresh = new SyncLoop({ runner: new RestoreRunner({ backend: 'nft', netns: await netns(`init${n}`) }), node });
    fresh.update(snap, { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
    const [ms, , cpu] = await time(() => fresh.sync());
    out.syncInitialLoadNoflushMs = r(ms);
    out.syncInitialLoadNoflushCpuMs = r(cpu);
  }

  // keel's sync loop (nft) takes over the namespace that now holds the rules, as after an agent restart.
  const loop = new SyncLoop({ runner: new RestoreRunner({ backend: 'nft', netns: nftNs }), node });
  const none = { services: new Set<string>(), endpoints: new Set<string>(), pods: new Set<string>() };
  loop.update(snap, { ...none, full: true });
  const [first, firstRes, firstCpu] = await time(() => loop.sync());
  // Equal but for the two KUBE-KEEL-CANARY chains (nat, filter), which renderRestore leaves to the sync loop.
  if (firstRes.written > 2 || firstRes.deleted !== 0) throw new Error(`first resync should find the kernel equal: ${JSON.stringify(firstRes)}`);
  out.syncFullResyncNoChangeMs = r(first);
  out.syncFullResyncNoChangeCpuMs = r(firstCpu);
  const changed = (i: number): Endpoints[] => {
    const copy = [...eps];
    const e = eps[0] as Endpoints;
    copy[0] = makeEndpoints('bench', 'svc-0', e.subsets[0]?.addresses.map((a, j) => ({ ip: j === 0 ? `10.250.${i}.1` : a.ip })) ?? [], [{ name: 'http', port: 8080 }]);
    return copy;
  };
  const partial: number[] = [];
  const partialCpu: number[] = [];
  for (let i = 0; i < 5; i++) {
    loop.update(snapshotOf(services, changed(i)), { ...none, endpoints: new Set(['bench/svc-0']), full: false });
    const [ms, res, cpu] = await time(() => loop.sync());
    if (res.kind !== 'partial' || res.written !== 2 || res.deleted !== 1) throw new Error(`unexpected partial sync ${JSON.stringify(res)}`);
    partial.push(ms);
    partialCpu.push(cpu);
  }
  out.syncPartialOneEndpointMs = r(median(partial));
  out.syncPartialOneEndpointCpuMs = r(median(partialCpu));
  loop.update(snapshotOf(services, changed(99)), { ...none, endpoints: new Set(['bench/svc-0']), full: true });
  const [full, fullRes, fullCpu] = await time(() => loop.sync());
  if (fullRes.written !== 2 || fullRes.deleted !== 1) throw new Error(`unexpected full resync ${JSON.stringify(fullRes)}`);
  out.syncFullResyncOneEndpointMs = r(full);
  out.syncFullResyncOneEndpointCpuMs = r(fullCpu);
  const ratio = (a: number | undefined, b: number | undefined): number => Number(((a ?? 0) / (b ?? 1)).toFixed(3));
  out.compileOverRestoreNft = ratio(out.compileMs, out.restore_nft_ms);
  out.compileOverRestoreNftCpu = ratio(out.compileCpuMs, out.restore_nft_cpuMs);
  out.partialOverFullLoad = ratio(out.syncPartialOneEndpointMs, out.restore_nft_ms);
  out.partialOverFullLoadCpu = ratio(out.syncPartialOneEndpointCpuMs, out.restore_nft_cpuMs);
  out.partialOverFullResync = ratio(out.syncPartialOneEndpointMs, out.syncFullResyncOneEndpointMs);
  out.partialOverFullResyncCpu = ratio(out.syncPartialOneEndpointCpuMs, out.syncFullResyncOneEndpointCpuMs);
  return out;
}

async function removeNamespaces(): Promise<void> {
  for (const ns of made.splice(0)) await execa('ip', ['netns', 'del', ns], { reject: false });
}

async function main(): Promise<void> {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void removeNamespaces().finally(() => process.exit(130)));
  }
  const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
  const rows: Record<string, number>[] = [];
  try {
    for (const n of sizes.length ? sizes : [1000, 10_000]) {
      rows.push(await measure(n));
      console.log(JSON.stringify(rows.at(-1)));
    }
  } finally {
    await removeNamespaces();
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join('bench', 'results');
  mkdirSync(dir, { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, iptables: (await execa('iptables', ['--version'])).stdout, loadavg: loadavg().map((x) => Number(x.toFixed(1))) };
  writeFileSync(join(dir, `proxy-iptables-${stamp}.json`), `${JSON.stringify({ meta, rows }, null, 2)}\n`);
  const cols = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const md = [
    `# proxy-iptables bench (${meta.date}, ${meta.iptables}, load average ${meta.loadavg.join(' ')})`, '',
    'compile = compileRules + renderRestore (median of 3); restore = iptables-restore of the same text into a fresh netns;',
    'syncInitialLoadNoflush = keel SyncLoop first sync into an empty netns (iptables-nft-restore --noflush; measured up to 2k services only);',
    'sync = keel SyncLoop (nft) taking over the netns the nft restore loaded: partial = one endpoint of one service changed (median of 5);',
    'full resync = iptables-save both tables + diff + send what differs. *CpuMs = CPU time of keel plus the iptables tools it ran (user+sys),',
    'the comparable figure on a shared, loaded machine; plain *Ms are wall time.', '',
    `| ${cols.join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${cols.map((c) => String(row[c] ?? '—')).join(' | ')} |`), '',
  ].join('\n');
  writeFileSync(join(dir, `proxy-iptables-${stamp}.md`), md);
  console.log(md);
}

await main();
