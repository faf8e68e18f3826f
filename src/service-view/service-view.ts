import type { NamespacedName } from '../api/cluster-state.js';
import type { Cidr, IpAddress } from '../api/ip.js';
import type { Protocol, ServiceType, TrafficPolicy } from '../api/service.js';

/**
 * What iptables, userspace and DNS know of a Service: its v1 object and
 * Endpoints projected once, addresses parsed into values with their family,
 * defaults filled, endpoints resolved per service port. Readonly all the
 * way down; a new object is built when the service or its endpoints change.
 * EndpointSlices (--endpoints-source) fill the same types as v1 Endpoints.
 */
export interface ServiceView {
  readonly key: NamespacedName;
  readonly namespace: string;
  readonly name: string;
  readonly type: ServiceType;
  /** clusterIP "None": DNS answers with the endpoints, the proxies skip it. */
  readonly headless: boolean;
  /** ExternalName services only, as written (DNS canonicalizes it). */
  readonly externalName: string | undefined;
  /** Primary first; empty for headless, ExternalName, and not yet allocated. */
  readonly clusterIPs: readonly IpAddress[];
  readonly externalIPs: readonly IpAddress[];
  /** status.loadBalancer.ingress addresses (hostnames are not addresses and are left out). */
  readonly loadBalancerIPs: readonly IpAddress[];
  readonly loadBalancerSourceRanges: readonly Cidr[];
  /**
   * The spec lists source ranges but not one of them parses. kube-proxy would
   * then write no firewall (every source reaches the LB IPs); keel keeps the
   * firewall with nothing allowed, so a broken list never opens the service.
   */
  readonly loadBalancerSourceRangesInvalid: boolean;
  /** ClientIP affinity timeout; undefined when affinity is None. */
  readonly affinityTimeoutSeconds: number | undefined;
  readonly externalTrafficPolicy: TrafficPolicy;
  readonly internalTrafficPolicy: TrafficPolicy;
  readonly healthCheckNodePort: number | undefined;
  readonly publishNotReadyAddresses: boolean;
  readonly ports: readonly ServicePortView[];
  /** Every endpoint with the ports it serves, in the source's order (DNS's headless records and SRV targets). */
  readonly endpointGroups: readonly EndpointGroup[];
  /** Entries left out because they do not parse; the rest of the service is used. */
  readonly ignoredFields: readonly IgnoredField[];
}

/** One entry of a list field that is no address, e.g. `spec.externalIPs[1]`: kube-proxy skips it and logs why; so does keel. */
export interface IgnoredField {
  readonly field: string;
  readonly value: string;
  readonly reason: string;
}

export interface ServicePortView {
  /** The port's name, '' for a single unnamed port. */
  readonly name: string;
  /** `ns/name:port`, or `ns/name` for an unnamed port: kube-proxy's ServicePortName, hashed into chain names. */
  readonly servicePortName: string;
  readonly protocol: Protocol;
  readonly port: number;
  /** Only for NodePort and LoadBalancer services. */
  readonly nodePort: number | undefined;
  /** Every endpoint of this port, ready or not, one per address and port, in address order (IPv4 first). */
  readonly endpoints: readonly PortEndpoint[];
}

/**
 * One endpoint address and its state. The conditions are EndpointSlice's:
 * ready (take new connections), serving (would, ignoring termination),
 * terminating. v1 Endpoints only say ready or not: an address in
 * `addresses` is ready and serving, one in `notReadyAddresses` neither, and
 * nothing is terminating (v1 cannot say so; EndpointSlices can).
 */
export interface EndpointView {
  readonly ip: IpAddress;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  readonly hostname: string | undefined;
  /** On the node the view was built for. */
  readonly isLocal: boolean;
  /** EndpointSlices only: the endpoint's zone and the zones its topology hints name. */
  readonly zone?: string;
  readonly zoneHints?: readonly string[];
}

/** An endpoint of one service port: the address with the port number resolved for that port. */
export interface PortEndpoint extends EndpointView {
  readonly port: number;
  /** `ip:port` (`[ip]:port` for IPv6), kube-proxy's endpoint string, hashed into KUBE-SEP names. */
  readonly address: string;
}

export interface EndpointPortView {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

/** Endpoints that serve the same ports: a v1 Endpoints subset or an EndpointSlice. */
export interface EndpointGroup {
  readonly endpoints: readonly EndpointView[];
  readonly ports: readonly EndpointPortView[];
}
