import type { Command } from 'commander';
import { UsageError } from '../api/errors.js';
import { parseIp } from '../api/ip.js';
import { compileRules } from '../proxy-iptables/compile.js';
import { renderRestore } from '../proxy-iptables/render-restore.js';
import { formatTrace, tracePacket, type TracePacket } from '../proxy-iptables/trace.js';
import { addNodeOptions, loadSnapshot, nodeConfig, type NodeFlags } from './rules.js';
import { keelOption } from './options.js';

interface TraceFlags extends NodeFlags {
  src: string;
  dst: string;
  from: string;
  verbose?: boolean;
}

export function registerTrace(program: Command): void {
  const cmd = program
    .command('trace')
    .description('walk a packet through the rules keel would program and print every outcome with its probability')
    .requiredOption('--src <ip>', 'source address')
    .requiredOption('--dst <ip:port[/proto]>', 'destination, e.g. 10.96.0.10:80/tcp')
    .addOption(keelOption('--from <where>', 'pod, host or external', 'pod'))
    .addOption(keelOption('-v, --verbose', 'print every matching rule'));
  addNodeOptions(cmd).action(async (flags: TraceFlags) => {
    const pkt = parsePacket(flags);
    const text = renderRestore(compileRules(await loadSnapshot(flags), nodeConfig(flags)));
    const outcomes = tracePacket(text, pkt, flags.nodeIp ? [flags.nodeIp] : []);
    process.stdout.write(formatTrace(outcomes, flags.verbose === true));
  });
}

function parsePacket(flags: TraceFlags): TracePacket {
  if (!parseIp(flags.src)) throw new UsageError(`--src: "${flags.src}" is not an IP address`);
  const m = /^([\d.]+):(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(flags.dst);
  if (!m || !parseIp(m[1] ?? '')) throw new UsageError(`--dst: "${flags.dst}" is not IP:PORT[/tcp|udp|sctp]`);
  if (!['pod', 'host', 'external'].includes(flags.from)) throw new UsageError(`--from: "${flags.from}" is not pod, host or external`);
  return {
    src: flags.src,
    dst: m[1] as string,
    dport: Number(m[2]),
    protocol: (m[3] ?? 'tcp').toLowerCase() as TracePacket['protocol'],
    from: flags.from as TracePacket['from'],
  };
}
