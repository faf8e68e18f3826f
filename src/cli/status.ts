import type { Command } from 'commander';
import { UsageError } from '../api/errors.js';
import { describeEtcd, readState } from '../sandbox/sandbox-state.js';
import { sandboxStatus } from '../sandbox/status.js';
import { columns } from '../describe/report-text.js';
import { addRunDirOption, type RunDirFlags } from './sandbox-flags.js';

export function registerStatus(program: Command): void {
  const cmd = program.command('status')
    .description('show the sandbox: etcd members (health, leader, revision, DB size), nodes and agent health, overlay leases, services, pods');
  addRunDirOption(cmd).action(async (flags: RunDirFlags) => {
    const state = readState(flags.runDir);
    if (!state) throw new UsageError(`no sandbox in ${flags.runDir} (start one with \`keel up\`)`);
    const s = await sandboxStatus(state);
    const out: string[] = [
      `sandbox ${state.id} in ${state.runDir}: proxy ${state.proxyMode}, backend ${state.backend}`,
      `etcd ${describeEtcd(state)}${s.etcd ? '' : ', NOT ANSWERING'}; controller ${s.controller ? 'running' : 'NOT RUNNING'}`,
      '',
      table(['MEMBER', 'IP', 'HEALTH', 'LEADER', 'REVISION', 'DB-SIZE'], s.members.map((m) => [
        `${m.name}${m.pid && m.health !== 'stopped' ? ` (pid ${m.pid})` : ''}`, m.ip, m.health, m.leader ? 'yes' : '', m.revision ?? '', m.dbSizeBytes === undefined ? '' : formatBytes(m.dbSizeBytes),
      ])),
      '',
      table(['NODE', 'IP', 'NETNS', 'AGENT'], s.nodes.map((n) => [n.name, n.ip, n.netns, `${n.agent}${n.agentPid ? ` (pid ${n.agentPid})` : ''}`])),
      '',
      table(['SUBNET', 'PUBLIC-IP', 'BACKEND'], s.leases.map((l) => [l.subnet, l.publicIp, l.backend])),
      '',
      table(['SERVICE', 'TYPE', 'CLUSTER-IP', 'PORTS'], s.services.map((v) => [v.name, v.type, v.clusterIP, v.ports])),
    ];
    if (s.pods.length) out.push('', table(['POD', 'NODE', 'IP', 'READY'], s.pods.map((p) => [p.name, p.node, p.podIP, p.ready ? 'yes' : 'no'])));
    if (s.error) out.push('', `etcd: ${s.error}`);
    process.stdout.write(`${out.join('\n')}\n`);
  });
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
}

function table(head: string[], rows: string[][]): string {
  return columns(head, rows).join('\n');
}
