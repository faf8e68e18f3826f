import { isDnsLabel, isDnsSubdomain, isIanaServiceName, readMeta, type FieldReader, type ObjectMeta } from './meta.js';
import { parseCidrSloppy, parseIpSloppy } from './ip.js';
import { readServiceIpFields } from './service-ip-fields.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type TrafficPolicy = 'Cluster' | 'Local';
export type IpFamilyName = 'IPv4' | 'IPv6';
export type IpFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

export interface ServicePort {
  name?: string;
  protocol: Protocol;
  port: number;
  /** A number, or the name of a container port resolved per endpoint. */
  targetPort: number | string;
  nodePort?: number;
}

export interface ServiceSpec {
  type: ServiceType;
  /** "None" for a headless service; absent until IPAM assigns one. */
  clusterIP?: string;
  clusterIPs?: string[];
  ports: ServicePort[];
  selector?: Record<string, string>;
  sessionAffinity: 'None' | 'ClientIP';
  sessionAffinityConfig?: { clientIP: { timeoutSeconds: number } };
  externalTrafficPolicy?: TrafficPolicy;
  internalTrafficPolicy?: TrafficPolicy;
  externalIPs?: string[];
  externalName?: string;
  loadBalancerSourceRanges?: string[];
  /** Primary first; filled by IPAM from clusterIPs, the policy and the cluster's ranges. */
  ipFamilies?: IpFamilyName[];
  ipFamilyPolicy?: IpFamilyPolicy;
  publishNotReadyAddresses?: boolean;
  /** LoadBalancer with externalTrafficPolicy Local: the node port of kube-proxy's per-service health check. */
  healthCheckNodePort?: number;
  /** LoadBalancer only; false: NodePorts are allocated only where a port asks for one. */
  allocateLoadBalancerNodePorts?: boolean;
}

export interface Service {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta;
  spec: ServiceSpec;
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

/** Kubernetes' default ClientIP affinity timeout (3 hours). */
const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10_800;

export function isHeadless(svc: Service): boolean {
  return svc.spec.clusterIP === 'None';
}

export function hasNodePorts(svc: Service): boolean {
  return svc.spec.type === 'NodePort' || svc.spec.type === 'LoadBalancer';
}

export const TOLERATE_UNREADY_ANNOTATION = 'service.alpha.kubernetes.io/tolerate-unready-endpoints';

/**
 * Whether not-ready endpoints count: publishNotReadyAddresses, or the
 * annotation that preceded it (read with Go's strconv.ParseBool, as the
 * endpoints controller and CoreDNS's users rely on).
 */
export function publishesNotReady(svc: Service): boolean {
  const v = svc.metadata.annotations?.[TOLERATE_UNREADY_ANNOTATION];
  return svc.spec.publishNotReadyAddresses === true || (v !== undefined && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v));
}

/** Kubernetes' NeedsHealthCheck: only an externalTrafficPolicy Local LoadBalancer gets a health check node port. */
export function needsHealthCheck(svc: Service): boolean {
  return svc.spec.type === 'LoadBalancer' && svc.spec.externalTrafficPolicy === 'Local';
}

export function affinityTimeoutSeconds(svc: Service): number | undefined {
  if (svc.spec.sessionAffinity !== 'ClientIP') return undefined;
  return svc.spec.sessionAffinityConfig?.clientIP.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS;
}

/**
 * How strict the address lists are. `write` (apply, the default) refuses an
 * entry of spec.externalIPs, spec.loadBalancerSourceRanges or
 * status.loadBalancer.ingress[].ip that is no address, as kube-apiserver's
 * validation does. `stored` (what etcd holds) keeps such an entry as written
 * and the service view leaves it out, as kube-proxy does: one bad entry
 * never takes the whole service away.
 */
export interface ValidateOptions {
  readonly mode?: 'write' | 'stored';
}

export function validateService(raw: Record<string, unknown>, options: ValidateOptions = {}): Service {
  const read = readMeta('Service', raw);
  const meta = read.meta;
  const r: FieldReader = read.r;
  const s = r.object(raw.spec ?? {}, 'spec');
  const type = r.oneOf<ServiceType>(s.type, 'spec.type', ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'], 'ClusterIP');
  const spec: ServiceSpec = { type, ports: [], sessionAffinity: 'None' };

  if (type === 'ExternalName') {
    const externalName = r.string(s.externalName, 'spec.externalName');
    const trimmed = externalName.replace(/\.$/, '');
    if (!isDnsSubdomain(trimmed.toLowerCase())) r.fail('spec.externalName', `${JSON.stringify(externalName)} is not a DNS name`);
    spec.externalName = externalName;
  }

  readServiceIpFields(r, s, spec, type);
  spec.ports = readPorts(r, s.ports, type, spec.clusterIP === 'None');

  const selector = r.stringMap(s.selector, 'spec.selector', 'selector');
  if (selector && Object.keys(selector).length > 0) spec.selector = selector;

  spec.sessionAffinity = r.oneOf(s.sessionAffinity, 'spec.sessionAffinity', ['None', 'ClientIP'] as const, 'None');
  const cfg = r.optionalObject(s.sessionAffinityConfig, 'spec.sessionAffinityConfig');
  if (spec.sessionAffinity === 'ClientIP') {
    const clientIP = r.optionalObject(cfg?.clientIP, 'spec.sessionAffinityConfig.clientIP');
    const timeout = clientIP?.timeoutSeconds;
    spec.sessionAffinityConfig = {
      clientIP: {
        timeoutSeconds:
          timeout === undefined
            ? DEFAULT_AFFINITY_TIMEOUT_SECONDS
            : r.integer(timeout, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', 1, 86_400),
      },
    };
  }

  if (s.externalTrafficPolicy !== undefined) {
    // "Cluster"/"Local" as today; older manifests spell them Global/Local.
    const v = s.externalTrafficPolicy === 'Global' ? 'Cluster' : s.externalTrafficPolicy;
    spec.externalTrafficPolicy = r.oneOf<TrafficPolicy>(v, 'spec.externalTrafficPolicy', ['Cluster', 'Local'], 'Cluster');
  }
  if (s.internalTrafficPolicy !== undefined) {
    spec.internalTrafficPolicy = r.oneOf<TrafficPolicy>(
      s.internalTrafficPolicy,
      'spec.internalTrafficPolicy',
      ['Cluster', 'Local'],
      'Cluster',
    );
  }

  const stored = options.mode === 'stored';
  const externalIPs = r.array(s.externalIPs, 'spec.externalIPs').map((v, i) => readIp(r, v, `spec.externalIPs[${i}]`, stored));
  if (externalIPs.length) spec.externalIPs = externalIPs;
  const ranges = r.array(s.loadBalancerSourceRanges, 'spec.loadBalancerSourceRanges').map((v, i) => {
    const field = `spec.loadBalancerSourceRanges[${i}]`;
    // kube-proxy (newBaseServiceInfo) trims each range and parses it sloppily; so does keel.
    const text = r.string(v, field).trim();
    const c = parseCidrSloppy(text);
    if (!c && !stored) r.fail(field, `${JSON.stringify(v)} is not a CIDR`);
    return c?.text ?? text;
  });
  if (ranges.length) spec.loadBalancerSourceRanges = ranges;
  const pna = r.boolean(s.publishNotReadyAddresses, 'spec.publishNotReadyAddresses');
  if (pna !== undefined) spec.publishNotReadyAddresses = pna;
  const alloc = r.boolean(s.allocateLoadBalancerNodePorts, 'spec.allocateLoadBalancerNodePorts');
  if (alloc !== undefined) {
    if (type !== 'LoadBalancer') r.fail('spec.allocateLoadBalancerNodePorts', `may only be set for type LoadBalancer, not ${type}`);
    spec.allocateLoadBalancerNodePorts = alloc;
  }
  if (s.healthCheckNodePort !== undefined && s.healthCheckNodePort !== null && s.healthCheckNodePort !== 0) {
    const hc = r.integer(s.healthCheckNodePort, 'spec.healthCheckNodePort', 1, 65_535);
    if (type !== 'LoadBalancer' || spec.externalTrafficPolicy !== 'Local') {
      r.fail('spec.healthCheckNodePort', 'may only be set for type LoadBalancer with externalTrafficPolicy Local');
    }
    spec.healthCheckNodePort = hc;
  }

  const svc: Service = { apiVersion: 'v1', kind: 'Service', metadata: meta, spec };
  const status = readStatus(r, raw.status, stored);
  if (status) svc.status = status;
  return svc;
}

/** The address in canonical form; in stored mode one that does not parse is kept as written (the service view skips it). */
function readIp(r: FieldReader, v: unknown, field: string, stored: boolean): string {
  const text = r.string(v, field);
  const ip = parseIpSloppy(text);
  if (!ip && !stored) r.fail(field, `${JSON.stringify(v)} is not an IP address`);
  return ip?.text ?? text;
}

function readPorts(r: FieldReader, value: unknown, type: ServiceType, headless: boolean): ServicePort[] {
  const items = r.array(value, 'spec.ports');
  if (items.length === 0 && type !== 'ExternalName' && !headless) r.fail('spec.ports', 'at least one port is required');
  const names = new Set<string>();
  const keys = new Set<string>();
  return items.map((item, i) => {
    const f = `spec.ports[${i}]`;
    const p = r.object(item, f);
    const port: ServicePort = {
      protocol: r.oneOf<Protocol>(p.protocol, `${f}.protocol`, PROTOCOLS, 'TCP'),
      port: r.integer(p.port, `${f}.port`, 1, 65_535),
      targetPort: 0,
    };
    const name = r.optionalString(p.name, `${f}.name`);
    if (name) {
      if (!isDnsLabel(name)) r.fail(`${f}.name`, `${JSON.stringify(name)} is not a DNS label`);
      if (names.has(name)) r.fail(`${f}.name`, `duplicate port name ${JSON.stringify(name)}`);
      names.add(name);
      port.name = name;
    } else if (items.length > 1) {
      r.fail(`${f}.name`, 'is required when a service has more than one port');
    }
    const key = `${port.protocol}/${port.port}`;
    if (keys.has(key)) r.fail(f, `duplicate port ${port.port}/${port.protocol}`);
    keys.add(key);
    const tp = p.targetPort;
    if (tp === undefined || tp === null || tp === 0 || tp === '') port.targetPort = port.port;
    else if (typeof tp === 'number') port.targetPort = r.integer(tp, `${f}.targetPort`, 1, 65_535);
    else if (typeof tp === 'string' && /^\d+$/.test(tp)) port.targetPort = r.integer(Number(tp), `${f}.targetPort`, 1, 65_535);
    else {
      const tn = r.string(tp, `${f}.targetPort`);
      if (!isIanaServiceName(tn))
        r.fail(`${f}.targetPort`, `${JSON.stringify(tn)} is not a valid port name (a DNS label of at most 15 characters with a letter)`);
      port.targetPort = tn;
    }
    if (p.nodePort !== undefined && p.nodePort !== null && p.nodePort !== 0) {
      if (type !== 'NodePort' && type !== 'LoadBalancer')
        r.fail(`${f}.nodePort`, `may only be set for type NodePort or LoadBalancer, not ${type}`);
      port.nodePort = r.integer(p.nodePort, `${f}.nodePort`, 1, 65_535);
    }
    return port;
  });
}

function readStatus(r: FieldReader, value: unknown, stored: boolean): Service['status'] | undefined {
  const st = r.optionalObject(value, 'status');
  const lb = r.optionalObject(st?.loadBalancer, 'status.loadBalancer');
  const ingress = r.array(lb?.ingress, 'status.loadBalancer.ingress').map((v, i) => {
    const f = `status.loadBalancer.ingress[${i}]`;
    const o = r.object(v, f);
    const out: { ip?: string; hostname?: string } = {};
    if (o.ip !== undefined) out.ip = readIp(r, o.ip, `${f}.ip`, stored);
    const host = r.optionalString(o.hostname, `${f}.hostname`);
    if (host) out.hostname = host;
    return out;
  });
  return ingress.length ? { loadBalancer: { ingress } } : undefined;
}
