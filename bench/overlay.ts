/**
 * Pod-to-pod TCP throughput (iperf3) over keel's vxlan and udp backends,
 * beside node-to-node over the underlay itself, in the same run. Run as
 * root after `npm run build`:
 *   node dist-dev/bench/overlay.js [seconds]
 * Writes bench/results/overlay.json (figures.ts).
 *
 * Topology: test/e2e/overlay-lab.ts (nodes on a switch netns, pods by the
 * stock CNI plugins). Each configuration is measured with segmentation
 * offloads as the kernel sets them and with TSO/GSO/GRO off on the node and
 * pod interfaces: a userspace backend sees every MTU-sized packet, so the
 * offloads-off figures are the fair comparison for udp. The underlay is
 * measured in the vxlan lab, its runs alternating with the pod-to-pod ones.
 */
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { sleep } from '../src/runtime/backoff.js';
import { OverlayLab, type Pod } from '../test/e2e/overlay-lab.js';
import { figure, fmt, progress, QUICK, RUNS, writeResult, type FigureRow } from './figures.js';

const BENCH = 'overlay';
const SECONDS = Number(process.argv[2] ?? (QUICK ? 1 : 3));

type Backend = 'vxlan' | 'udp';
type Offloads = 'on' | 'off';
type Path = 'underlay' | 'pod-to-pod';
interface Series {
  backend: Backend;
  offloads: Offloads;
  path: Path;
  gbps: number[];
  retransmits: number;
}

async function iperf(serverNs: string, clientNs: string, host: string): Promise<{ gbps: number; retransmits: number }> {
  for (let attempt = 1; ; attempt++) {
    const server = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
    try {
      await sleep(500);
      const res = await execa('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', host, '-t', String(SECONDS), '-J'], {
        timeout: (SECONDS + 20) * 1000,
        reject: false,
      });
      const doc = JSON.parse(String(res.stdout) || '{}') as {
        error?: string;
        end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } };
      };
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

async function measure(backend: Backend, offloads: Offloads, series: Series[], extras: Record<string, unknown>): Promise<void> {
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
    const paths: { path: Path; serverNs: string; clientNs: string; host: string }[] = [
      { path: 'pod-to-pod', serverNs: b.ns, clientNs: a.ns, host: b.ip },
      ...(backend === 'vxlan'
        ? [{ path: 'underlay' as const, serverNs: lab.nodes[1] as string, clientNs: lab.nodes[0] as string, host: lab.nodeIp(2) }]
        : []),
    ];
    const mine: Series[] = paths.map((p) => ({ backend, offloads, path: p.path, gbps: [], retransmits: 0 }));
    series.push(...mine);
    for (let run = 1; run <= RUNS; run++) {
      for (const [i, p] of paths.entries()) {
        const m = await iperf(p.serverNs, p.clientNs, p.host);
        const into = mine[i] as Series;
        into.gbps.push(Number(m.gbps.toFixed(3)));
        into.retransmits += m.retransmits;
        progress(
          BENCH,
          `${backend} lab, offloads ${offloads}, ${p.path} run ${run}/${RUNS}: ${fmt(m.gbps)} Gbit/s, ${m.retransmits} retransmits`,
        );
      }
    }
    if (backend === 'udp') {
      await lab.stopAgent(1);
      extras[`udp-offloads-${offloads}-agent1-log-tail`] = (lab.logs.get(1) ?? '').split('\n').slice(-3).join('\n');
    }
  } finally {
    await lab.down();
  }
}

async function main(): Promise<void> {
  const series: Series[] = [];
  const extras: Record<string, unknown> = {};
  for (const offloads of ['on', 'off'] as const) {
    for (const backend of ['vxlan', 'udp'] as const) await measure(backend, offloads, series, extras);
  }
  const gbps = (backend: Backend, offloads: Offloads, path: Path): number[] =>
    series.find((r) => r.backend === backend && r.offloads === offloads && r.path === path)?.gbps ?? [];
  const figures: FigureRow[] = [
    ...(['on', 'off'] as const).map((o) =>
      figure({
        figure: 7,
        name: `pod-to-pod throughput, vxlan, offloads ${o}`,
        unit: 'Gbit/s',
        keel: gbps('vxlan', o, 'pod-to-pod'),
        peer: { name: 'underlay, node to node', samples: gbps('vxlan', o, 'underlay') },
        ratio: 'keel/peer',
        target: { on: 'ratio', op: '>=', value: 0.9 },
      }),
    ),
    ...(['on', 'off'] as const).map((o) =>
      figure({
        figure: 7,
        name: `pod-to-pod throughput, udp, offloads ${o}`,
        unit: 'Gbit/s',
        keel: gbps('udp', o, 'pod-to-pod'),
        peer: { name: 'keel vxlan pod-to-pod', samples: gbps('vxlan', o, 'pod-to-pod') },
        ratio: 'keel/peer',
        target: { on: 'ratio', op: '>=', value: 0.3 },
      }),
    ),
  ];
  const tool = String((await execa('iperf3', ['--version'])).stdout).split('\n')[0] ?? 'iperf3';
  writeResult({
    bench: BENCH,
    figures,
    notes: [
      `${tool}, TCP, ${SECONDS} s per run, ${RUNS} runs per path; two nodes on a switch netns, one pod on each (stock CNI bridge plugin), keel network run on both nodes; a fresh lab per backend and offload setting.`,
      'offloads off = TSO, GSO and GRO off on the node and pod interfaces: a userspace backend (udp) handles every MTU-sized packet, so that setting is the fair comparison for it.',
      'The underlay is node to node over the same switch, measured in the vxlan lab, its runs alternating with the pod-to-pod ones.',
    ],
    detail: { seconds: SECONDS, series, extras },
  });
}

await main();
