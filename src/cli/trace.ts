import { UsageError } from '../api/errors.js';
import { parseIp } from '../api/ip.js';
import { compileRules } from '../proxy-iptables/compile.js';
import { renderRestore } from '../proxy-iptables/render-restore.js';
import { formatTrace, tracePacket, type TraceOutcome, type TracePacket } from '../proxy-iptables/trace.js';
import { compileNftables } from '../proxy-nftables/compile.js';
import { traceNftPacket } from '../proxy-nftables/nft-trace.js';
import { loadSnapshot, nodeConfig } from './rules.js';
import type { NodeFlags } from './node-flags.js';

interface TraceFlags extends NodeFlags {
  src: string;
  dst: string;
  from: string;
  mode: string;
  verbose?: boolean;
}

export async function runTrace(flags: TraceFlags): Promise<void> {
  const pkt = parsePacket(flags);
  // The packet's family picks the tables: ip6tables' rules for an IPv6 packet, as the kernel would.
  const family = pkt.dst.includes(':') ? 6 : 4;
  const outcomes = await traceIn(flags.mode, pkt, flags, family);
  process.stdout.write(formatTrace(outcomes, flags.verbose === true));
}

async function traceIn(mode: string, pkt: TracePacket, flags: TraceFlags, family: 4 | 6): Promise<TraceOutcome[]> {
  const local = (flags.nodeIp ?? '')
    .split(',')
    .map((ip) => ip.trim())
    .filter(Boolean);
  if (mode === 'iptables')
    return tracePacket(renderRestore(compileRules(await loadSnapshot(flags), nodeConfig(flags, family))), pkt, local);
  if (mode !== 'nftables') throw new UsageError(`--mode: "${mode}" is not iptables or nftables`);
  return traceNftPacket(compileNftables(await loadSnapshot(flags), nodeConfig(flags, family)), pkt, local);
}

function parsePacket(flags: TraceFlags): TracePacket {
  if (!parseIp(flags.src)) throw new UsageError(`--src: "${flags.src}" is not an IP address`);
  const m = /^(?:([\d.]+)|\[([0-9a-fA-F:.]+)\]):(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(flags.dst);
  const dst = parseIp(m?.[1] ?? m?.[2] ?? '');
  if (!m || !dst) throw new UsageError(`--dst: "${flags.dst}" is not IP:PORT or [IPv6]:PORT, then [/tcp|udp|sctp]`);
  const src = parseIp(flags.src);
  if (src?.family !== dst.family) throw new UsageError(`--src: ${flags.src} and --dst ${dst.text} are of different families`);
  if (!['pod', 'host', 'external'].includes(flags.from)) throw new UsageError(`--from: "${flags.from}" is not pod, host or external`);
  return {
    src: src.text,
    dst: dst.text,
    dport: Number(m[3]),
    protocol: (m[4] ?? 'tcp').toLowerCase() as TracePacket['protocol'],
    from: flags.from as TracePacket['from'],
  };
}
