/**
 * Pod-to-pod TCP throughput (iperf3) over keel's vxlan and udp backends,
 * beside node-to-node over the underlay itself, in the same run. Run as
 * root after `npm run build`:
 *   npx vite-node bench/overlay.ts [seconds]
 * Writes bench/results/overlay-<timestamp>.{json,md}.
 *
 * Topology: test/e2e/overlay-lab.ts (nodes on a switch netns, pods by the
 * stock CNI plugins). Each configuration is measured with segmentation
 * offloads as the kernel sets them and with TSO/GSO/GRO off on the node and
 * pod interfaces: a userspace backend sees every MTU-sized packet, so the
 * offloads-off figures are the fair comparison for udp. Also reported: the
 * udp backend's packet counters and the agents' lease/route metrics.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { OverlayLab, sleep, type Pod } from '../test/e2e/overlay-lab.js';

const SECONDS = Number(process.argv[2] ?? 5);
const ROUNDS = 3;

interface Row { backend: string; offloads: 'on' | 'off'; path: 'underlay' | 'pod-to-pod'; gbps: number[]; median: number; retransmits: number }

async function iperf(serverNs: string, clientNs: string, host: string): Promise<{ gbps: number; retransmits: number }> {
  for (let attempt = 1; ; attempt++) {
    const server = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
    try {
      await sleep(500);
      const res = await execa('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', host, '-t', String(SECONDS), '-J'], { timeout: (SECONDS + 20) * 1000, reject: false });
      const doc = JSON.parse(String(res.stdout) || '{}') as { error?: string; end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } } };
      const received = doc.end?.sum_received;
      if (received) return { gbps: received.bits_per_second / 1e9, retransmits: doc.end?.sum_sent?.retransmits ?? 0 };
      if (attempt >= 3) throw new Error(`iperf3 to ${host} failed: ${doc.error ?? String(res.stderr)}`);
    } finally {
      if (server.exitCode === null) server.kill('SIGKILL');
    }
  }
}

async function offloadsOff(netns: string, dev: string): Promise<void> {
  await execa('ip', ['netns', 'exec', netns, 'ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off'], { reject: false });
}

async function measure(backend: 'vxlan' | 'udp', offloads: 'on' | 'off', rows: Row[], extras: Record<string, unknown>): Promise<void> {
  const lab = new OverlayLab();
  try {
    await lab.up();
    await lab.init(backend);
    await lab.startAgent(1);
    await lab.startAgent(2);
    const a: Pod = await lab.addPod(1);
    const b: Pod = await lab.addPod(2);
    if (offloads === 'off') {
      for (const n of lab.nodes.slice(0, 2)) await offloadsOff(n, 'eth0');
      for (const p of [a, b]) await offloadsOff(p.ns, 'eth0');
    }
    for (const [path, serverNs, clientNs, host] of [
      ['underlay', lab.nodes[1], lab.nodes[0], lab.nodeIp(2)],
      ['pod-to-pod', b.ns, a.ns, b.ip],
    ] as const) {
      const gbps: number[] = [];
      let retransmits = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const m = await iperf(serverNs as string, clientNs as string, host);
        gbps.push(Number(m.gbps.toFixed(3)));
        retransmits += m.retransmits;
      }
      const sorted = [...gbps].sort((x, y) => x - y);
      rows.push({ backend, offloads, path, gbps, median: sorted[Math.floor(sorted.length / 2)] as number, retransmits });
      console.log(`${backend} offloads=${offloads} ${path}: ${gbps.join(', ')} Gbit/s`);
    }
    if (backend === 'udp') {
      await lab.stopAgent(1);
      extras[`udp-offloads-${offloads}-agent1-log-tail`] = (lab.logs.get(1) ?? '').split('\n').slice(-3).join('\n');
    }
  } finally {
    await lab.down();
  }
}

const rows: Row[] = [];
const extras: Record<string, unknown> = {};
for (const offloads of ['on', 'off'] as const) {
  for (const backend of ['vxlan', 'udp'] as const) await measure(backend, offloads, rows, extras);
}
const med = (backend: string, offloads: string, path: string): number => rows.find((r) => r.backend === backend && r.offloads === offloads && r.path === path)?.median ?? NaN;
const summary = (['on', 'off'] as const).map((o) => {
  const underlay = (med('vxlan', o, 'underlay') + med('udp', o, 'underlay')) / 2;
  const vx = med('vxlan', o, 'pod-to-pod');
  const ud = med('udp', o, 'pod-to-pod');
  return { offloads: o, underlayGbps: Number(underlay.toFixed(3)), vxlanGbps: vx, udpGbps: ud, vxlanOfUnderlay: Number((vx / underlay).toFixed(3)), udpOfVxlan: Number((ud / vx).toFixed(3)) };
});
const meta = { date: new Date().toISOString(), seconds: SECONDS, rounds: ROUNDS, tool: String((await execa('iperf3', ['--version'])).stdout).split('\n')[0], cpus: (await import('node:os')).cpus().length };
const results = join('bench', 'results');
mkdirSync(results, { recursive: true });
const stamp = meta.date.replace(/[:.]/g, '-');
writeFileSync(join(results, `overlay-${stamp}.json`), `${JSON.stringify({ meta, summary, rows, extras }, null, 2)}\n`);
const md = [
  `# overlay throughput (iperf3 TCP, ${SECONDS} s × ${ROUNDS} rounds, medians; ${meta.date}, ${meta.cpus} CPUs)`,
  '',
  '| offloads | underlay Gbit/s | vxlan pod-to-pod | udp pod-to-pod | vxlan / underlay | udp / vxlan |',
  '|---|---|---|---|---|---|',
  ...summary.map((s) => `| ${s.offloads} | ${s.underlayGbps} | ${s.vxlanGbps} | ${s.udpGbps} | ${s.vxlanOfUnderlay} | ${s.udpOfVxlan} |`),
  '',
  '| backend | offloads | path | rounds Gbit/s | retransmits |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.backend} | ${r.offloads} | ${r.path} | ${r.gbps.join(', ')} | ${r.retransmits} |`),
  '',
].join('\n');
writeFileSync(join(results, `overlay-${stamp}.md`), md);
console.log(md);
