/**
 * Pod-to-pod TCP throughput (iperf3) over keel's vxlan and udp backends,
 * beside node-to-node over the underlay itself, in the same run. Run as
 * root after `npm run build`:
 *   node dist-dev/bench/overlay.js [seconds] [backends, default vxlan,udp]
 * Writes bench/results/overlay.json (figures.ts).
 *
 * Topology: test/support/overlay-lab.ts (nodes on a switch netns, pods by the
 * stock CNI plugins). Each configuration is measured with segmentation
 * offloads as the kernel sets them and with TSO/GSO/GRO off on the node and
 * pod interfaces: a userspace backend sees every MTU-sized packet, so the
 * offloads-off figures are the fair comparison for udp. The underlay is
 * measured in the vxlan lab, its runs alternating with the pod-to-pod ones.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { execa } from 'execa';
import { sleep } from '../src/runtime/backoff.js';
import { OverlayLab, type Pod } from '../test/support/overlay-lab.js';
import { figure, fmt, nsTag, progress, QUICK, RUNS, writeResult, type FigureRow } from './figures.js';

const BENCH = 'overlay';
const TAG = nsTag('kbo');
const SECONDS = Number(process.argv[2] ?? (QUICK ? 1 : 3));
const BACKENDS = (process.argv[3] ?? 'vxlan,udp').split(',');

type Backend = 'vxlan' | 'udp';
type Offloads = 'on' | 'off';
type Path = 'underlay' | 'pod-to-pod' | 'hand-vxlan';
interface Series {
  backend: Backend;
  offloads: Offloads;
  path: Path;
  gbps: number[];
  retransmits: number;
  /** udp only: CPU seconds both nodes' agents spent per GB the run carried (the data path is theirs; vxlan's is the kernel's). */
  agentCpuPerGb: number[];
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

/** CPU seconds (user + system) used so far by the `keel network run` processes in the lab's first two nodes. */
async function agentCpu(lab: OverlayLab): Promise<number> {
  let ticks = 0;
  for (const node of lab.nodes.slice(0, 2)) {
    for (const pid of String((await execa('ip', ['netns', 'pids', node])).stdout)
      .split('\n')
      .filter(Boolean)) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('network\0run')) continue;
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // The process ended between the listing and the read.
      }
    }
  }
  return ticks / 100;
}

async function offloadsOff(netns: string, dev: string): Promise<void> {
  await execa('ip', ['netns', 'exec', netns, 'ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off'], { reject: false });
}

const sh = async (netns: string, cmd: string[]): Promise<string> => String((await execa('ip', ['netns', 'exec', netns, ...cmd])).stdout);

/**
 * The peer of keel's vxlan: what an admin would type by hand on the same two
 * nodes, beside keel's device and keel's pods: a kernel VXLAN device (VNI 2,
 * the same port, MTU and underlay) with a static neighbour, FDB entry and
 * onlink route per remote node, as flannel programs them, and a pod on a
 * plain Linux bridge over a veth pair, as the CNI bridge plugin makes them.
 * Subnets 10.245.<node>.0/24 stay outside keel's 10.244.0.0/16, so keel's
 * agents leave them alone.
 */
async function handVxlan(lab: OverlayLab, tag: string): Promise<Pod[]> {
  const pods: Pod[] = [];
  const macs: string[] = [];
  for (const i of [1, 2]) {
    const node = lab.nodes[i - 1] as string;
    const pod = `${tag}${lab.run}h${i}`;
    await sh(node, [
      'ip',
      'link',
      'add',
      'hvx',
      'mtu',
      '1450',
      'type',
      'vxlan',
      'id',
      '2',
      'local',
      lab.nodeIp(i),
      'dev',
      'eth0',
      'dstport',
      '8472',
      'nolearning',
    ]);
    await sh(node, ['ip', 'addr', 'add', `10.245.${i}.0/32`, 'dev', 'hvx']);
    await sh(node, ['ip', 'link', 'set', 'hvx', 'up']);
    await sh(node, ['ip', 'link', 'add', 'hbr0', 'type', 'bridge']);
    await sh(node, ['ip', 'addr', 'add', `10.245.${i}.1/24`, 'dev', 'hbr0']);
    await execa('ip', ['netns', 'add', pod]);
    lab.pods.push({ ns: pod, ip: `10.245.${i}.2`, node: i });
    await sh(node, ['ip', 'link', 'add', 'hv0', 'mtu', '1450', 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', '1450', 'netns', pod]);
    await sh(node, ['ip', 'link', 'set', 'hv0', 'master', 'hbr0', 'up']);
    await sh(node, ['ip', 'link', 'set', 'hbr0', 'up']);
    await sh(pod, ['ip', 'addr', 'add', `10.245.${i}.2/24`, 'dev', 'eth0']);
    await sh(pod, ['ip', 'link', 'set', 'eth0', 'up']);
    await sh(pod, ['ip', 'link', 'set', 'lo', 'up']);
    await sh(pod, ['ip', 'route', 'add', 'default', 'via', `10.245.${i}.1`]);
    const [link] = JSON.parse(await sh(node, ['ip', '-j', 'link', 'show', 'hvx'])) as Array<{ address: string }>;
    macs.push(link?.address ?? '');
    pods.push({ ns: pod, ip: `10.245.${i}.2`, node: i });
  }
  for (const [i, j] of [
    [1, 2],
    [2, 1],
  ] as const) {
    const node = lab.nodes[i - 1] as string;
    const mac = macs[j - 1] as string;
    await sh(node, ['ip', 'neigh', 'add', `10.245.${j}.0`, 'lladdr', mac, 'dev', 'hvx', 'nud', 'permanent']);
    await sh(node, ['bridge', 'fdb', 'append', mac, 'dev', 'hvx', 'dst', lab.nodeIp(j)]);
    await sh(node, ['ip', 'route', 'add', `10.245.${j}.0/24`, 'via', `10.245.${j}.0`, 'dev', 'hvx', 'onlink']);
  }
  return pods;
}

/**
 * `ip -d link` and `ethtool -k` of keel's devices beside the hand-made ones on
 * node 1: the settings (word pairs, MACs and timers left out) found on one
 * side only.
 */
async function deviceDiff(lab: OverlayLab, keelVeth: string): Promise<string[]> {
  const node = lab.nodes[0] as string;
  const show = async (dev: string): Promise<string[]> => {
    const link = (await sh(node, ['ip', '-d', 'link', 'show', dev]))
      .split('\n')
      .slice(1)
      .join(' ')
      .replace(/([0-9a-f]{1,4}[.:]){2,}[0-9a-f]+|\d+\.\d+/g, 'X')
      .replace(/\b(id|link-netns) \S+/g, '$1 X')
      .split(/\s+/)
      .filter(Boolean);
    const pairs = link.map((word, k) => `${link[k - 1] ?? ''} ${word}`.trim());
    const features = (await sh(node, ['ethtool', '-k', dev])).split('\n').slice(1);
    return [...pairs, ...features.map((l) => l.trim())].filter(Boolean);
  };
  const out: string[] = [];
  for (const [mine, hand] of [
    ['flannel.1', 'hvx'],
    [keelVeth, 'hv0'],
    ['cni0', 'hbr0'],
  ] as const) {
    const [a, b] = [await show(mine), await show(hand)];
    const only = (x: string[], y: string[]): string => x.filter((l) => !y.includes(l)).join(', ');
    if (only(a, b) || only(b, a)) out.push(`${mine}: ${only(a, b)} | ${hand}: ${only(b, a)}`);
  }
  return out;
}

async function measure(backend: Backend, offloads: Offloads, series: Series[], extras: Record<string, unknown>): Promise<void> {
  const lab = new OverlayLab(TAG);
  try {
    await lab.up();
    await lab.init(backend);
    await lab.startAgent(1);
    await lab.startAgent(2);
    const a: Pod = await lab.addPod(1);
    const b: Pod = await lab.addPod(2);
    const hand = backend === 'vxlan' ? await handVxlan(lab, TAG) : [];
    if (backend === 'vxlan') {
      const veth = (await sh(lab.nodes[0] as string, ['ip', '-o', 'link', 'show', 'master', 'cni0'])).match(/^\d+: ([^@:]+)/)?.[1] ?? '';
      const diff = await deviceDiff(lab, veth);
      extras[`vxlan-offloads-${offloads}-device-diff`] = diff;
      progress(BENCH, `keel's devices vs hand-made on node 1 (lines that differ): ${diff.length ? `\n  ${diff.join('\n  ')}` : 'none'}`);
    }
    if (offloads === 'off') {
      for (const n of lab.nodes.slice(0, 2)) await offloadsOff(n, 'eth0');
      for (const p of [a, b, ...hand]) await offloadsOff(p.ns, 'eth0');
    }
    const [ha, hb] = hand;
    const paths: { path: Path; serverNs: string; clientNs: string; host: string }[] = [
      { path: 'pod-to-pod', serverNs: b.ns, clientNs: a.ns, host: b.ip },
      ...(ha && hb ? [{ path: 'hand-vxlan' as const, serverNs: hb.ns, clientNs: ha.ns, host: hb.ip }] : []),
      ...(backend === 'vxlan'
        ? [{ path: 'underlay' as const, serverNs: lab.nodes[1] as string, clientNs: lab.nodes[0] as string, host: lab.nodeIp(2) }]
        : []),
    ];
    const mine: Series[] = paths.map((p) => ({ backend, offloads, path: p.path, gbps: [], retransmits: 0, agentCpuPerGb: [] }));
    series.push(...mine);
    for (let run = 1; run <= RUNS; run++) {
      // Each run starts at another path, so no path always runs first (an order effect showed as keel/hand 0.966).
      for (let k = 0; k < paths.length; k++) {
        const i = (k + run - 1) % paths.length;
        const p = paths[i] as (typeof paths)[number];
        const cpuBefore = await agentCpu(lab);
        const m = await iperf(p.serverNs, p.clientNs, p.host);
        const cpu = (await agentCpu(lab)) - cpuBefore;
        const into = mine[i] as Series;
        into.gbps.push(Number(m.gbps.toFixed(3)));
        into.retransmits += m.retransmits;
        const perGb = cpu / ((m.gbps * SECONDS) / 8);
        if (backend === 'udp') into.agentCpuPerGb.push(Number(perGb.toFixed(2)));
        progress(
          BENCH,
          `${backend} lab, offloads ${offloads}, ${p.path} run ${run}/${RUNS}: ${fmt(m.gbps)} Gbit/s, ${m.retransmits} retransmits${backend === 'udp' ? `, agents ${fmt(perGb)} CPU s/GB` : ''} (load ${loadavg()[0]?.toFixed(1)})`,
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
    for (const backend of ['vxlan', 'udp'] as const) if (BACKENDS.includes(backend)) await measure(backend, offloads, series, extras);
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
        peer: { name: 'hand-configured kernel vxlan, pod-to-pod', samples: gbps('vxlan', o, 'hand-vxlan') },
        ratio: 'keel/peer',
        target: { on: 'ratio', op: '>=', value: 0.97 },
      }),
    ),
    ...(['on', 'off'] as const).map((o) =>
      figure({
        figure: 7,
        name: `pod-to-pod throughput, vxlan, offloads ${o}, beside the underlay (the ceiling)`,
        unit: 'Gbit/s',
        keel: gbps('vxlan', o, 'pod-to-pod'),
        peer: { name: 'underlay, node to node', samples: gbps('vxlan', o, 'underlay') },
        ratio: 'keel/peer',
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
        target: { on: 'ratio', op: '>=', value: o === 'on' ? 0.3 : 0.6 },
      }),
    ),
    ...(['on', 'off'] as const).map((o) =>
      figure({
        figure: 7,
        name: `udp backend, offloads ${o}: both agents' CPU seconds per GB carried (less is better; it rises when the workers wake for few packets, as at low Gbit/s: compare at similar throughput)`,
        unit: 'CPU s/GB',
        keel: series.find((r) => r.backend === 'udp' && r.offloads === o)?.agentCpuPerGb ?? [],
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
      "The vxlan peer is a hand-configured kernel vxlan on the same two nodes (`ip link add hvx mtu 1450 type vxlan id 2 … dstport 8472 nolearning`, static neighbour, FDB entry and onlink route, a pod on a plain bridge over a veth pair), its runs alternating with keel's, each run starting at another path.",
    ],
    detail: { seconds: SECONDS, series, extras },
  });
}

await main();
