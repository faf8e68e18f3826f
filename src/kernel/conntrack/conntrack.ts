import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import type { ServicePortInfo } from '../../proxy-iptables/compile.js';

/** One UDP flow family to forget: packets sent to `origDst[:port]` that were DNATed to `dstNat`. */
export interface StaleFlow {
  readonly origDst?: string;
  readonly port: number;
  readonly dstNat: string;
}

export interface Conntrack {
  deleteUdp(flow: StaleFlow): Promise<void>;
}

/** The conntrack tool, optionally inside a network namespace. */
export class ConntrackTool implements Conntrack {
  constructor(private readonly netns?: string) {}

  async deleteUdp(flow: StaleFlow): Promise<void> {
    const args = ['-D', '-p', 'udp', ...(flow.origDst ? ['--orig-dst', flow.origDst] : []), '--orig-port-dst', String(flow.port), '--dst-nat', flow.dstNat];
    const [file, argv] = this.netns ? ['ip', ['netns', 'exec', this.netns, 'conntrack', ...args]] : ['conntrack', args];
    const res = await execa(file, argv, { reject: false });
    // conntrack exits 1 when no entry matched, which is the common, fine case.
    if (res.exitCode !== 0 && !/0 flow entries/.test(String(res.stderr))) {
      throw new Error(`conntrack ${args.join(' ')}: ${String(res.stderr).split('\n')[0]}`);
    }
  }
}

/**
 * UDP has no connection to break, so a client keeps its conntrack entry to
 * a removed endpoint until it times out; list the entries to delete: for
 * every UDP service port, endpoints that were there before and are gone.
 */
export function staleUdpFlows(before: readonly ServicePortInfo[], after: readonly ServicePortInfo[]): StaleFlow[] {
  const now = new Map(after.map((p) => [`${p.spn}/${p.protocol}`, p]));
  const out: StaleFlow[] = [];
  for (const old of before) {
    if (old.protocol !== 'UDP') continue;
    const cur = now.get(`${old.spn}/${old.protocol}`);
    const keep = new Set(cur?.endpoints.map((e) => e.address) ?? []);
    for (const e of old.endpoints) {
      if (keep.has(e.address)) continue;
      out.push({ origDst: old.clusterIP, port: old.port, dstNat: e.ip });
      for (const ip of old.externalIPs) out.push({ origDst: ip, port: old.port, dstNat: e.ip });
      if (old.nodePort !== undefined) out.push({ port: old.nodePort, dstNat: e.ip });
    }
  }
  return out;
}

/**
 * kube-proxy NewProxier: with nf_conntrack_tcp_be_liberal set, conntrack
 * marks only out-of-window RSTs INVALID, so no DROP rule for INVALID is
 * written. Read once at start; a missing file (no conntrack module yet)
 * reads as unset, the kernel default.
 */
export function conntrackTcpLiberal(path = '/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal'): boolean {
  try {
    return readFileSync(path, 'utf8').trim() !== '0';
  } catch {
    return false;
  }
}
