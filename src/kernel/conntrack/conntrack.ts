import { readFileSync } from 'node:fs';
import { runCommand } from '../exec/run-command.js';

/** One UDP flow family to forget: packets sent to `origDst[:port]` that were DNATed to `dstNat`. */
export interface StaleFlow {
  readonly origDst?: string;
  readonly port: number;
  readonly dstNat: string;
}

export interface Conntrack {
  deleteUdp(flow: StaleFlow): Promise<void>;
}

/** The conntrack tool, optionally inside a network namespace; one address family (IPv6: `-f ipv6`). */
export class ConntrackTool implements Conntrack {
  constructor(
    private readonly netns?: string,
    private readonly family: 4 | 6 = 4,
  ) {}

  async deleteUdp(flow: StaleFlow): Promise<void> {
    const args = [
      '-D',
      ...(this.family === 6 ? ['-f', 'ipv6'] : []),
      '-p',
      'udp',
      ...(flow.origDst ? ['--orig-dst', flow.origDst] : []),
      '--orig-port-dst',
      String(flow.port),
      '--dst-nat',
      flow.dstNat,
    ];
    const [file, argv] = this.netns ? ['ip', ['netns', 'exec', this.netns, 'conntrack', ...args]] : ['conntrack', args];
    const res = await runCommand(file, argv);
    // conntrack exits 1 when no entry matched, which is the common, fine case.
    if (res.exitCode !== 0 && !/0 flow entries/.test(res.stderr)) {
      throw new Error(`conntrack ${args.join(' ')}: ${res.stderr.split('\n')[0] || (res.error?.message ?? '')}`);
    }
  }
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
