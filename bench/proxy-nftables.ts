/**
 * proxy-nftables: what one endpoint change costs at 1k and 10k services × 5
 * endpoints, in one network namespace holding keel's table, through
 * NftSyncLoop's partial sync with endpoints as data:
 *  (a) one endpoint of the last service replaced (the count stays 5): map
 *      elements only, sent as one nf_tables netlink batch (NfTablesSocket) —
 *      the agent's path — interleaved run by run with
 *  (b) the same element changes through `nft -f` (what the loop sent before);
 *  (c) an endpoint count crossing a power of two (5 → 4 → 5): the service
 *      chain's pick rules are rewritten through `nft -f`;
 *  (d) the periodic check: one netlink GETRULE of the services chain vs
 *      `nft list chain ip keel services`.
 * The table load itself (a full sync) is reported too. Wall time p50/max,
 * CPU time (this process and its children: nft) per change, load average
 * beside each figure. Run as root from the repository root, compiled:
 *   npm run build && npm run build:dev && node dist-dev/bench/proxy-nftables.js [sizes…]
 * It re-executes itself inside a fresh namespace knl-<run>-bench and removes it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { execa } from 'execa';
import { NfTablesSocket, type ElementChange, type NfFamily } from '../src/kernel/nftables/nf-tables-batch.js';
import { NftCommand } from '../src/kernel/nftables/nft-runner.js';
import { setLogLevel } from '../src/observe/log.js';
import { DEFAULT_MASQUERADE_BIT } from '../src/proxy-iptables/compile.js';
import { makeEndpoints, snapshotOf } from '../src/api/testing/object-builders.js';
import { renderElementChanges } from '../src/proxy-nftables/change-script.js';
import { NftSyncLoop, type NftSyncResult } from '../src/proxy-nftables/nft-sync-loop.js';
import { cluster } from './bench-cluster.js';
import { fmt, QUICK } from './figures.js';

const INSIDE = process.env.KEEL_NFT_BENCH_NETNS;
const RUNS = QUICK ? 6 : 20;
const sizes = process.argv.slice(2).map(Number).filter(Boolean);
const SIZES = sizes.length ? sizes : QUICK ? [200, 1000] : [1000, 10_000];

if (!INSIDE) {
  const ns = `knl-${randomBytes(2).toString('hex')}-bench`;
  await execa('ip', ['netns', 'add', ns]);
  try {
    await execa('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await execa('ip', ['netns', 'exec', ns, process.execPath, process.argv[1] ?? '', ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { KEEL_NFT_BENCH_NETNS: ns },
    });
  } finally {
    await execa('ip', ['netns', 'del', ns], { reject: false });
  }
} else {
  setLogLevel('error');
  const port = new NftCommand();
  const sock = new NfTablesSocket();
  // The loop's element batches go to netlink or, on alternate runs, to nft -f as the same lines.
  let viaNft = false;
  const direct = {
    commitElements: (family: NfFamily, table: string, changes: readonly ElementChange[]): Promise<void> =>
      viaNft ? port.run(`${renderElementChanges(changes, family, table).join('\n')}\n`) : sock.commitElements(family, table, changes),
    chainRules: sock.chainRules.bind(sock),
  };
  const node = { nodeName: 'node-0', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
  const load = (): string =>
    loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
  const stats = (ms: number[]): string => {
    const s = [...ms].sort((a, b) => a - b);
    return `p50 ${fmt(s[Math.floor(s.length / 2)] ?? 0)} ms, max ${fmt(s.at(-1) ?? 0)} ms`;
  };
  // CPU of this process (the netlink commit runs in its sendmsg) and of its waited-for children (nft), in ms.
  const cpuMs = (): number => {
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(f[i] ?? 0), 0);
    return (ticks * 1000) / 100;
  };
  const timed = async <T>(fn: () => Promise<T>): Promise<{ ms: number; cpu: number; value: T }> => {
    const c0 = cpuMs();
    const t0 = performance.now();
    const value = await fn();
    return { ms: performance.now() - t0, cpu: cpuMs() - c0, value };
  };
  const mean = (xs: number[]): string => fmt(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));
  for (const n of SIZES) {
    const { services, eps } = cluster(n);
    const loop = new NftSyncLoop({ port, direct, node });
    let revision = 1;
    const last = services.length - 1;
    const key = `bench/svc-${last}`;
    // The snapshot (all n services) is built before the clock starts: only the sync is timed.
    const change = (ips: string[]): (() => Promise<NftSyncResult>) => {
      eps[last] = makeEndpoints(
        'bench',
        `svc-${last}`,
        ips.map((ip, j) => ({ ip, node: `node-${j}` })),
        [{ name: 'http', port: 8080 }],
      );
      loop.update(snapshotOf(services, eps, revision++), { services: new Set(), endpoints: new Set([key]), pods: new Set(), full: false });
      return () => loop.sync();
    };
    loop.update(snapshotOf(services, eps, revision++), { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
    const full = await timed(() => loop.sync());
    console.log(`${n} services × 5: full sync (table replaced, nft -f) ${fmt(full.ms)} ms, cpu ${fmt(full.cpu)} ms [load ${load()}]`);
    const base = ['10.245.255.1', '10.245.255.2', '10.245.255.3', '10.245.255.4'];
    await change([...base, '10.245.0.1'])();
    const byPath: Record<'netlink' | 'nft', { ms: number[]; cpu: number[] }> = { netlink: { ms: [], cpu: [] }, nft: { ms: [], cpu: [] } };
    for (let r = 0; r < RUNS; r++) {
      viaNft = r % 2 === 1;
      const t = await timed(change([...base, `10.245.${1 + (r % 250)}.${1 + (r % 200)}`]));
      if (t.value.path === 'none' || t.value.chains > 0) throw new Error(`expected an element-only change, got ${JSON.stringify(t.value)}`);
      const into = byPath[viaNft ? 'nft' : 'netlink'];
      into.ms.push(t.ms);
      into.cpu.push(t.cpu);
    }
    viaNft = false;
    const l1 = load();
    console.log(
      `  (a) endpoint replaced, netlink element batch: ${stats(byPath.netlink.ms)}, cpu ${mean(byPath.netlink.cpu)} ms/change [load ${l1}]`,
    );
    console.log(
      `  (b) the same elements via nft -f:            ${stats(byPath.nft.ms)}, cpu ${mean(byPath.nft.cpu)} ms/change [load ${l1}]`,
    );
    const crossing: number[] = [];
    for (let r = 0; r < Math.max(2, RUNS / 4); r++) {
      crossing.push((await timed(change(base))).ms);
      crossing.push((await timed(change([...base, `10.245.0.${2 + r}`]))).ms);
    }
    console.log(`  (c) count crosses a power of two (5↔4), pick rules via nft -f: ${stats(crossing)} [load ${load()}]`);
    const getRule: number[] = [];
    const listChain: number[] = [];
    for (let r = 0; r < Math.max(3, RUNS / 4); r++) {
      getRule.push((await timed(() => sock.chainRules('ip', 'keel', 'services'))).ms);
      listChain.push((await timed(() => port.listChain('ip', 'keel', 'services'))).ms);
    }
    console.log(`  (d) periodic check: netlink GETRULE ${stats(getRule)}; nft list chain ${stats(listChain)} [load ${load()}]`);
  }
  sock.close();
}
