/**
 * proxy-nftables: what one change costs at 1k and 10k services × 5
 * endpoints, by path, in one network namespace holding keel's table:
 *  (a) an endpoint change through NftSyncLoop's partial sync (`nft -f`:
 *      new endpoint chain, service chain rewritten, old chain deleted);
 *  (b) the same chains alone through `nft -f` (what a netlink path would
 *      still have to replace for kube-proxy's layout);
 *  (c) one service-ips element added and deleted through `nft -f`;
 *  (d) the same element through one nf_tables netlink batch written
 *      directly (NfTablesSocket), no nft, no cache.
 * The table load itself (a full sync) is reported too. Wall times, p50 and
 * max over RUNS changes. Run as root from the repository root, compiled:
 *   npm run build && npm run build:dev && node dist-dev/bench/proxy-nftables.js [sizes…]
 * It re-executes itself inside a fresh namespace knf-<run>-bench and removes it.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { execa } from 'execa';
import { NfTablesSocket } from '../src/kernel/nftables/nf-tables-batch.js';
import { NftCommand } from '../src/kernel/nftables/nft-runner.js';
import { setLogLevel } from '../src/observe/log.js';
import { DEFAULT_MASQUERADE_BIT } from '../src/proxy-iptables/compile.js';
import { makeEndpoints, snapshotOf } from '../src/api/testing/object-builders.js';
import { NftSyncLoop } from '../src/proxy-nftables/nft-sync-loop.js';
import { cluster } from './bench-cluster.js';
import { fmt, QUICK } from './figures.js';

const INSIDE = process.env.KEEL_NFT_BENCH_NETNS;
const RUNS = QUICK ? 5 : 20;
const sizes = process.argv.slice(2).map(Number).filter(Boolean);
const SIZES = sizes.length ? sizes : QUICK ? [200, 1000] : [1000, 10_000];

if (!INSIDE) {
  const ns = `knf-${randomBytes(2).toString('hex')}-bench`;
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
  const node = { nodeName: 'node-0', clusterCidr: '10.244.0.0/16', masqueradeBit: DEFAULT_MASQUERADE_BIT };
  const load = (): string =>
    loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
  const stats = (ms: number[]): string => {
    const s = [...ms].sort((a, b) => a - b);
    return `p50 ${fmt(s[Math.floor(s.length / 2)] ?? 0)} ms, max ${fmt(s.at(-1) ?? 0)} ms`;
  };
  const timed = async (fn: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  for (const n of SIZES) {
    const { services, eps } = cluster(n);
    const loop = new NftSyncLoop({ port, node });
    let revision = 1;
    loop.update(snapshotOf(services, eps, revision++), { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
    const loadMs = await timed(() => loop.sync());
    console.log(`${n} services: full sync (table replaced, nft -f) ${fmt(loadMs)} ms [load ${load()}]`);
    // (a) one endpoint of the last service replaced, RUNS times.
    const last = services.length - 1;
    const partial: number[] = [];
    const lastEps = eps[last];
    for (let r = 0; r < RUNS && lastEps; r++) {
      eps[last] = makeEndpoints(
        'bench',
        `svc-${last}`,
        [
          { ip: `10.245.${r % 250}.${(r % 200) + 1}`, node: 'node-0' },
          { ip: '10.245.255.1', node: 'node-1' },
        ],
        [{ name: 'http', port: 8080 }],
      );
      loop.update(snapshotOf(services, eps, revision++), {
        services: new Set(),
        endpoints: new Set([`bench/svc-${last}`]),
        pods: new Set(),
        full: false,
      });
      partial.push(await timed(() => loop.sync()));
    }
    console.log(`  (a) endpoint change, partial sync via nft -f: ${stats(partial)} [load ${load()}]`);
    // (b) chains only: a scratch endpoint chain added and the last service chain rewritten, then the scratch chain removed.
    const chains: number[] = [];
    const svcChain = loop.table().chains.find((c) => c.name.includes(`bench/svc-${last}/`) && c.name.startsWith('service-'));
    for (let r = 0; r < RUNS && svcChain; r++) {
      const script = [
        `add chain ip keel endpoint-bench/${r}`,
        `add rule ip keel endpoint-bench/${r} meta l4proto tcp dnat to 10.245.0.${r + 1}:8080`,
        `flush chain ip keel ${svcChain.name}`,
        ...svcChain.rules.map((rule) => `add rule ip keel ${svcChain.name} ${rule}`),
        `delete chain ip keel endpoint-bench/${r}`,
      ];
      chains.push(await timed(() => port.run(`${script.join('\n')}\n`)));
    }
    console.log(`  (b) the same chains alone via nft -f: ${stats(chains)} [load ${load()}]`);
    // (c) and (d): one element in service-ips, added then deleted.
    const target = svcChain?.name ?? '';
    const viaNft: number[] = [];
    const viaNetlink: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const el = `10.100.${r}.1 . tcp . 80 : goto ${target}`;
      viaNft.push(await timed(() => port.run(`add element ip keel service-ips { ${el} }\n`)));
      viaNft.push(await timed(() => port.run(`delete element ip keel service-ips { 10.100.${r}.1 . tcp . 80 }\n`)));
      viaNetlink.push(await timed(() => sock.commitElements('ip', 'keel', [{ op: 'add', set: 'service-ips', elements: [el] }])));
      viaNetlink.push(await timed(() => sock.commitElements('ip', 'keel', [{ op: 'delete', set: 'service-ips', elements: [el] }])));
    }
    console.log(`  (c) one service-ips element via nft -f: ${stats(viaNft)} [load ${load()}]`);
    console.log(`  (d) one service-ips element via a netlink batch: ${stats(viaNetlink)} [load ${load()}]`);
    const listMs = await timed(() => port.listChain('ip', 'keel', 'services'));
    console.log(`  periodic check (nft list chain services): ${fmt(listMs)} ms`);
  }
  sock.close();
}
