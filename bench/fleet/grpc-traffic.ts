/**
 * The gRPC calls and bytes an etcd member has served, from
 * its Prometheus counters: what tells a thin simulated node's traffic from a
 * full one's (the same calls and bytes per node, or the thin figures do not
 * speak for etcd and the proxy).
 */
import { execa } from 'execa';

export interface GrpcTraffic {
  /** Range calls started (lists and the resume checks). */
  ranges: number;
  /** Watch streams started. */
  watchStreams: number;
  /** Bytes received from and sent to gRPC clients (NaN where the process does not count them). */
  rxBytes: number;
  txBytes: number;
}

const COUNTERS = {
  ranges: /^grpc_server_started_total\{grpc_method="Range",grpc_service="etcdserverpb\.KV"[^}]*\} (\S+)$/m,
  watchStreams: /^grpc_server_started_total\{grpc_method="Watch",grpc_service="etcdserverpb\.Watch"[^}]*\} (\S+)$/m,
  rxBytes: /^etcd_network_client_grpc_received_bytes_total (\S+)$/m,
  txBytes: /^etcd_network_client_grpc_sent_bytes_total (\S+)$/m,
} as const;

/** The counters at `metricsUrl`, read from inside `netns` (NaN for a counter the page lacks or an unreachable page). */
export async function grpcTraffic(netns: string, metricsUrl: string): Promise<GrpcTraffic> {
  const res = await execa('ip', ['netns', 'exec', netns, 'curl', '-sf', '--max-time', '10', metricsUrl], { reject: false });
  const page = res.exitCode === 0 ? String(res.stdout) : '';
  const read = (re: RegExp): number => Number(re.exec(page)?.[1] ?? NaN);
  return {
    ranges: read(COUNTERS.ranges),
    watchStreams: read(COUNTERS.watchStreams),
    rxBytes: read(COUNTERS.rxBytes),
    txBytes: read(COUNTERS.txBytes),
  };
}

/** Sum of several processes' counters. */
export function sumTraffic(all: readonly GrpcTraffic[]): GrpcTraffic {
  const zero: GrpcTraffic = { ranges: 0, watchStreams: 0, rxBytes: 0, txBytes: 0 };
  return all.reduce(
    (s, t) => ({
      ranges: s.ranges + t.ranges,
      watchStreams: s.watchStreams + t.watchStreams,
      rxBytes: s.rxBytes + t.rxBytes,
      txBytes: s.txBytes + t.txBytes,
    }),
    zero,
  );
}

/** (after − before) / nodes, per counter: one node's share of a phase. */
export function perNode(before: GrpcTraffic, after: GrpcTraffic, nodes: number): GrpcTraffic {
  const share = (k: keyof GrpcTraffic): number => Number(((after[k] - before[k]) / nodes).toFixed(1));
  return { ranges: share('ranges'), watchStreams: share('watchStreams'), rxBytes: share('rxBytes'), txBytes: share('txBytes') };
}
