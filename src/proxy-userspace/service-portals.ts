import { KeelError } from '../api/errors.js';
import { parseIp } from '../api/ip.js';
import { affinityTimeoutSeconds, hasNodePorts, isHeadless, type Service } from '../api/service.js';
import type { ClusterSnapshot, NamespacedName } from '../api/cluster-state.js';

/** `ns/name:portName`, the identity kube-proxy's userspace mode prints in rule comments (empty port name allowed). */
export type ServicePortName = string;

export type PortalProtocol = 'TCP' | 'UDP';

/** One service port the userspace proxy serves: one listener, one set of portal rules. */
export interface ServicePortal {
  readonly name: ServicePortName;
  readonly service: NamespacedName;
  /** The service port's name ('' for a single unnamed port), matching Endpoints ports by name. */
  readonly portName: string;
  readonly protocol: PortalProtocol;
  readonly clusterIP: string;
  readonly port: number;
  /** spec.externalIPs and status.loadBalancer.ingress IPs, sorted, IPv4 only. */
  readonly externalIPs: readonly string[];
  readonly nodePort: number | undefined;
  /** ClientIP affinity timeout, absent when affinity is None. */
  readonly affinitySeconds: number | undefined;
}

/** Why a service port got no portal; logged and counted by the caller, never fatal. */
export class PortalSkipped extends KeelError {
  override name = 'PortalSkipped' as const;
  constructor(subject: string, reason: string) {
    super('KEEL_INVALID_OBJECT', reason, { subject });
  }
}

export function servicePortName(service: NamespacedName, portName: string): ServicePortName {
  return `${service}:${portName}`;
}

/**
 * The service ports that need a userspace listener, sorted by name.
 * Headless and ExternalName services have none; SCTP and IPv6 are outside
 * what the legacy userspace proxier served, so they are skipped with a reason.
 */
export function servicePortals(snapshot: ClusterSnapshot): { portals: ServicePortal[]; skipped: PortalSkipped[] } {
  const portals: ServicePortal[] = [];
  const skipped: PortalSkipped[] = [];
  for (const key of [...snapshot.services.keys()].sort()) {
    const svc = snapshot.services.get(key) as Service;
    if (svc.spec.type === 'ExternalName' || isHeadless(svc) || svc.spec.clusterIP === undefined) continue;
    const subject = `service ${key}`;
    const clusterIP = svc.spec.clusterIP;
    if (parseIp(clusterIP)?.family !== 4) {
      skipped.push(new PortalSkipped(subject, `clusterIP ${clusterIP}: the userspace proxy serves IPv4 only`));
      continue;
    }
    const externalIPs = [...new Set([
      ...(svc.spec.externalIPs ?? []),
      ...(svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : [])),
    ])].filter((ip) => parseIp(ip)?.family === 4).sort();
    for (const p of svc.spec.ports) {
      const portName = p.name ?? '';
      if (p.protocol === 'SCTP') {
        skipped.push(new PortalSkipped(subject, `port ${p.port}/SCTP: the userspace proxy serves TCP and UDP only`));
        continue;
      }
      portals.push({
        name: servicePortName(key, portName),
        service: key,
        portName,
        protocol: p.protocol,
        clusterIP,
        port: p.port,
        externalIPs,
        nodePort: hasNodePorts(svc) ? p.nodePort : undefined,
        affinitySeconds: affinityTimeoutSeconds(svc),
      });
    }
  }
  portals.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { portals, skipped };
}
