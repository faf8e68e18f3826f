import type { EtcdConnection } from '../store/etcd-client.js';
import type { PodRecordsMode } from '../dns/records.js';
import type { IptablesBackend } from '../kernel/iptables/restore-runner.js';

export type ProxyMode = 'iptables' | 'userspace' | 'none';
export type OverlayBackendName = 'vxlan' | 'udp' | 'host-gw' | 'none';

/** Everything `keel agent` needs, resolved from flags, KEEL_* and --config. */
export interface AgentConfig {
  etcd: EtcdConnection;
  registryPrefix: string;
  subnetPrefix: string;
  nodeName: string;
  /** The node's address for rules and leases; detected from the default route when not given. */
  nodeIp: string;
  iface: string | undefined;
  clusterCidr: string;
  serviceClusterIpRange: string;
  proxyMode: ProxyMode;
  iptablesBackend: IptablesBackend;
  iptablesSyncPeriodMs: number;
  iptablesMinSyncPeriodMs: number;
  proxyPortRange: string | undefined;
  udpTimeoutMs: number;
  backend: OverlayBackendName;
  subnetFile: string;
  dns: boolean;
  dnsListen: string;
  clusterDomain: string;
  dnsTtl: number;
  /** `addr[:port],…`; undefined: the nameservers of /etc/resolv.conf. */
  upstream: string | undefined;
  podRecords: PodRecordsMode;
  metricsBindAddress: string;
}
