import { AllocationError } from '../api/errors.js';
import { parseIp, type Cidr } from '../api/ip.js';
import { hasNodePorts, isHeadless, needsHealthCheck, type Service, type ServicePort } from '../api/service.js';
import { subjectOf } from '../api/meta.js';
import { chooseNodePort, inPortRange, type PortRange } from './node-ports.js';
import { initIpFamilyFields } from './ip-family-fields.js';
import { chooseServiceIp, isAllocatableIp, type PickIndex } from './service-ips.js';

export interface IpamConfig {
  /** One range per family; the first is the default family. */
  serviceRanges: readonly Cidr[];
  nodePorts: PortRange;
}

/** What is in use, and by whom (`ns/name`), so a service's own holdings never count against it. */
export interface Taken {
  ips: ReadonlyMap<string, string>;
  nodePorts: ReadonlyMap<number, string>;
}

export interface AllocationPlan {
  service: Service;
  ips: string[];
  nodePorts: number[];
}

/**
 * Fills a service's ClusterIPs and NodePorts: explicit requests are
 * checked, earlier allocations are kept (ClusterIP is immutable), the rest
 * is chosen with `pick`. Pure: the caller makes it stick in one etcd
 * transaction, and plans again if it loses a race.
 */
export function planServiceAllocation(
  desired: Service,
  existing: Service | undefined,
  taken: Taken,
  cfg: IpamConfig,
  pick: PickIndex,
): AllocationPlan {
  const owner = `${desired.metadata.namespace}/${desired.metadata.name}`;
  const subject = subjectOf('Service', desired.metadata.namespace, desired.metadata.name);
  const fail = (field: string, msg: string): never => {
    throw new AllocationError(subject, `${field}: ${msg}`);
  };
  const service: Service = structuredClone(desired);
  const spec = service.spec;

  const ips = planClusterIps(service, existing, taken, cfg, pick, owner, fail);
  if (ips.length) {
    spec.clusterIPs = ips;
    spec.clusterIP = ips[0] as string;
  }

  const nodePorts: number[] = [];
  const used = new Set<number>();
  const take = (field: string, wanted: number | undefined): number => {
    let chosen = wanted;
    if (chosen !== undefined) {
      if (!inPortRange(cfg.nodePorts, chosen))
        fail(field, `${chosen} is not in the node port range ${cfg.nodePorts.min}-${cfg.nodePorts.max}`);
      const holder = taken.nodePorts.get(chosen);
      if (holder !== undefined && holder !== owner) fail(field, `${chosen} is already allocated (to service ${holder})`);
      if (used.has(chosen)) fail(field, `${chosen} is used twice in this service`);
    } else {
      const busy = new Set([...taken.nodePorts.keys(), ...used]);
      chosen = chooseNodePort(cfg.nodePorts, busy, pick) ?? fail(field, `no free node port in ${cfg.nodePorts.min}-${cfg.nodePorts.max}`);
    }
    used.add(chosen);
    nodePorts.push(chosen);
    return chosen;
  };
  // kube-apiserver (pkg/registry/core/service/storage/alloc.go): a LoadBalancer with
  // allocateLoadBalancerNodePorts false gets only the NodePorts its ports name explicitly.
  const allocateAll = spec.type !== 'LoadBalancer' || spec.allocateLoadBalancerNodePorts !== false;
  spec.ports = spec.ports.map((port, i): ServicePort => {
    const { nodePort, ...rest } = port;
    if (!hasNodePorts(service)) return rest;
    const wanted = nodePort ?? (allocateAll ? previousNodePort(existing, port) : undefined);
    if (wanted === undefined && !allocateAll) return rest;
    return { ...rest, nodePort: take(`spec.ports[${i}].nodePort`, wanted) };
  });
  const { healthCheckNodePort } = spec;
  delete spec.healthCheckNodePort;
  if (needsHealthCheck(service)) {
    spec.healthCheckNodePort = take('spec.healthCheckNodePort', healthCheckNodePort ?? existing?.spec.healthCheckNodePort);
  }
  return { service, ips, nodePorts };
}

function planClusterIps(
  service: Service,
  existing: Service | undefined,
  taken: Taken,
  cfg: IpamConfig,
  pick: PickIndex,
  owner: string,
  fail: (field: string, msg: string) => never,
): string[] {
  const spec = service.spec;
  const before = existing && !isHeadless(existing) ? (existing.spec.clusterIPs ?? []) : [];
  if (spec.clusterIPs?.length && before.length && spec.clusterIPs[0] !== before[0] && !isHeadless(service)) {
    fail('spec.clusterIP', `field is immutable (it is ${before[0]})`);
  }
  initIpFamilyFields(
    service,
    existing,
    cfg.serviceRanges.map((r) => r.family),
  );
  if (spec.type === 'ExternalName' || isHeadless(service)) return [];
  const requested = spec.clusterIPs ?? [];
  const chosen = new Set(taken.ips.keys());
  return (spec.ipFamilies ?? []).map((name, i) => {
    const family = name === 'IPv6' ? 6 : 4;
    const field = i === 0 ? 'spec.clusterIP' : `spec.clusterIPs[${i}]`;
    // initIpFamilyFields refused families the cluster lacks, so the range is there.
    const range = cfg.serviceRanges.find((r) => r.family === family) as Cidr;
    const want = requested[i];
    if (want !== undefined) {
      const ip = parseIp(want);
      if (!ip || !isAllocatableIp(range, ip)) fail(field, `${want} is not in the service range ${range.text}`);
      const holder = taken.ips.get(ip.text);
      if (holder !== undefined && holder !== owner) fail(field, `${ip.text} is already allocated (to service ${holder})`);
      return ip.text;
    }
    const ip = chooseServiceIp(range, chosen, pick) ?? fail(field, `the service range ${range.text} is full`);
    chosen.add(ip.text);
    return ip.text;
  });
}

function previousNodePort(existing: Service | undefined, port: ServicePort): number | undefined {
  return existing?.spec.ports.find((p) => p.port === port.port && p.protocol === port.protocol && p.name === port.name)?.nodePort;
}
