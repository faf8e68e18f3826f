import type { EndpointsSource } from '../api/endpoint-slice.js';
import { ConfigError } from '../api/errors.js';
import { parseCidr, type Cidr } from '../api/ip.js';
import type { PodRecordsMode } from '../dns/records.js';
import type { IptablesBackend } from '../kernel/iptables/restore-runner.js';
import type { BackendType } from '../overlay/network-config.js';
import type { SubnetSourceName } from '../overlay/subnet-source.js';
import type { UserspaceRelay } from '../proxy-userspace/userspace-proxier.js';
import type { EtcdConnection } from '../store/etcd-client.js';

export type ProxyMode = 'iptables' | 'nftables' | 'userspace' | 'none';
export type OverlayBackendName = BackendType | 'none';

/**
 * What one keel process runs, resolved from flags, KEEL_* and --config:
 * `keel agent` fills the parts it is asked for, `keel dns` only `dns`,
 * `keel network run` only `overlay`. An absent part is not built.
 */
export interface AgentConfig {
  /** The process's logger: 'agent', or the one component's name ('dns', 'overlay'), which its lines then carry as before. */
  name: string;
  etcd: EtcdConnection;
  /** /metrics, /healthz and /readyz; undefined: not served. */
  metricsBindAddress: string | undefined;
  /** The period /healthz judges the watch and the overlay against (--iptables-sync-period in keel agent). */
  healthPeriodMs: number;
  /** Where Services, Endpoints and Pods live; read only when the proxy or DNS runs. */
  registryPrefix: string;
  /** --endpoints-source; default auto. */
  endpointsSource?: EndpointsSource;
  proxy: ProxyConfig | undefined;
  overlay: OverlayConfig | undefined;
  dns: AgentDnsConfig | undefined;
}

export interface ProxyConfig {
  mode: Exclude<ProxyMode, 'none'>;
  nodeName: string;
  /** The node's addresses for rules, one per family, the primary first (kubelet's --node-ip); detected from the default route when not given. */
  nodeIps: string[];
  clusterCidr: string;
  iptablesBackend: IptablesBackend;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  portRange: string | undefined;
  udpTimeoutMs: number;
  /** --userspace-relay: who moves the userspace proxy's TCP bytes. */
  userspaceRelay: UserspaceRelay;
  /** kube-proxy's /healthz and /livez (--healthz-bind-address, default 0.0.0.0:10256); metrics stay on metricsBindAddress. */
  healthzBindAddress: string;
  /** --nodeport-addresses as given (CIDRs or "primary"); undefined: every local address. */
  nodePortAddresses: string | undefined;
}

export interface OverlayConfig {
  subnetPrefix: string;
  /** Must match the network config's backend; undefined: whatever the network config says. */
  backend: BackendType | undefined;
  iface: string | undefined;
  /** Advertised in the lease; undefined: the underlay interface's address. */
  publicIp: string | undefined;
  /** flannel's --public-ipv6 (EnableIPv6): the IPv6 underlay address advertised in the lease. */
  publicIpv6?: string | undefined;
  subnetFile: string;
  /** Masquerade pod traffic leaving the network (ip-masq rules through `iptablesBackend`). */
  ipMasq: boolean;
  iptablesBackend: IptablesBackend;
  leaseTtlSeconds: number | undefined;
  /** etcd leases, or each Node's spec.podCIDR (Nodes read under the registry prefix). */
  subnetSource: SubnetSourceName;
  /** This node's Node object, for the node subnet source. */
  nodeName: string;
}

export interface AgentDnsConfig {
  listen: string;
  zone: string;
  ttl: number;
  /** `addr[:port],…`; undefined: the nameservers of /etc/resolv.conf. */
  upstream: string | undefined;
  podRecords: PodRecordsMode;
  /** Clients allowed recursion, and reverse zones. */
  podCidrs: Cidr[];
  serviceCidrs: Cidr[];
  /** NS addresses, also allowed recursion. */
  nodeIps: string[];
  /** Worker threads answering UDP queries (--dns-workers; 0: the agent thread). */
  workers: number;
}

export function configCidr(flag: string, text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new ConfigError(flag, `${JSON.stringify(text)} is not a CIDR`);
  return c;
}
