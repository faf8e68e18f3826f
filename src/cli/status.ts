import { execa } from 'execa';
import { UsageError } from '../api/errors.js';
import { columns } from '../describe/report-text.js';
import { clusterGraph } from '../sandbox/cluster-graph.js';
import { describeEtcd, readState, type SandboxState } from '../sandbox/sandbox-state.js';
import { sandboxStatus, type SandboxStatus } from '../sandbox/status.js';
import { endpointsSourceOf, type EndpointsSourceFlags } from './endpoints-source-flag.js';
import { PICTURES } from './commands/status.js';
import type { RunDirFlags } from './sandbox-flags.js';

interface StatusFlags extends RunDirFlags, EndpointsSourceFlags {
  output?: string;
}

export async function runStatus(flags: StatusFlags): Promise<void> {
  const picture = flags.output;
  if (picture !== undefined && !(PICTURES as readonly string[]).includes(picture))
    throw new UsageError(`--output ${picture}: expected ${PICTURES.join(' or ')}`);
  const state = readState(flags.runDir);
  if (!state) throw new UsageError(`no sandbox in ${flags.runDir} (start one with \`keel up\`)`);
  const s = await sandboxStatus(state, endpointsSourceOf(flags));
  if (picture) {
    const dot = pictureOf(state, s);
    process.stdout.write(picture === 'svg' ? await renderSvg(dot) : dot);
    return;
  }
  const out: string[] = [
    `sandbox ${state.id} in ${state.runDir}: ${state.ipFamily ?? 'ipv4'}, proxy ${state.proxyMode}, backend ${state.backend}`,
    `etcd ${describeEtcd(state)}${s.etcd ? '' : ', NOT ANSWERING'}; controller ${s.controller ? 'running' : 'NOT RUNNING'}`,
    '',
    table(
      ['MEMBER', 'IP', 'HEALTH', 'LEADER', 'REVISION', 'DB-SIZE'],
      s.members.map((m) => [
        `${m.name}${m.pid && m.health !== 'stopped' ? ` (pid ${m.pid})` : ''}`,
        m.ip,
        m.health,
        m.leader ? 'yes' : '',
        m.revision ?? '',
        m.dbSizeBytes === undefined ? '' : formatBytes(m.dbSizeBytes),
      ]),
    ),
    '',
    table(
      ['NODE', 'IP', 'NETNS', 'AGENT'],
      s.nodes.map((n) => [n.name, n.ips.join(','), n.netns, `${n.agent}${n.agentPid ? ` (pid ${n.agentPid})` : ''}`]),
    ),
    '',
    table(
      ['SUBNET', 'PUBLIC-IP', 'BACKEND'],
      s.leases.map((l) => [l.subnet, l.publicIp, l.backend]),
    ),
    '',
    table(
      ['SERVICE', 'TYPE', 'CLUSTER-IP', 'PORTS'],
      s.services.map((v) => [v.name, v.type, v.clusterIP, v.ports]),
    ),
  ];
  if (s.pods.length)
    out.push(
      '',
      table(
        ['POD', 'NODE', 'IP', 'READY'],
        s.pods.map((p) => [p.name, p.node, p.podIP, p.ready ? 'yes' : 'no']),
      ),
    );
  if (s.error) out.push('', `etcd: ${s.error}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function pictureOf(state: SandboxState, s: SandboxStatus): string {
  if (!s.cluster) throw new UsageError(`cannot draw sandbox ${state.id}: its etcd ${s.error ? `failed: ${s.error}` : 'is not answering'}`);
  return clusterGraph({
    sandbox: state,
    nodes: s.nodes.map((n) => ({ name: n.name, ips: n.ips, agent: n.agent })),
    leases: s.cluster.leases,
    snapshot: s.cluster.snapshot,
  });
}

/** Graphviz's own layout: Debian's `graphviz` package, found on the PATH, never bundled. */
async function renderSvg(dot: string): Promise<string> {
  const res = await execa('dot', ['-Tsvg'], { input: dot, reject: false });
  if ((res as { code?: string }).code === 'ENOENT')
    throw new UsageError("-o svg needs Graphviz's `dot` (apt-get install graphviz); -o dot prints the text it would draw");
  if (res.exitCode !== 0) throw new UsageError(`dot -Tsvg failed: ${String(res.stderr).split('\n')[0] ?? ''}`);
  return String(res.stdout);
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
}

function table(head: string[], rows: string[][]): string {
  return columns(head, rows).join('\n');
}
