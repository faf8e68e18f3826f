import { KeelError } from '../api/errors.js';
import type { NamespacedName } from '../api/cluster-state.js';
import type { IpAddress } from '../api/ip.js';
import type { ServicePortView, ServiceView } from '../service-view/service-view.js';

/**
 * `ns/name:portName`, always with the colon (`ns/name:` for an unnamed
 * port): the identity legacy userspace kube-proxy printed in its rule
 * comments and keel keeps for listeners, metrics and round-robin state.
 * Not kube-proxy's ServicePortName (`ns/name` for an unnamed port), which
 * the view carries for the chain-name hashes.
 */
export type PortalName = string;

export type PortalProtocol = 'TCP' | 'UDP';

/** One service port the userspace proxy serves: one listener, one set of portal rules. */
export interface ServicePortal {
  readonly name: PortalName;
  readonly service: NamespacedName;
  /** The service port's name ('' for a single unnamed port). */
  readonly portName: string;
  readonly protocol: PortalProtocol;
  readonly clusterIP: string;
  readonly port: number;
  /** spec.externalIPs and status.loadBalancer.ingress IPs, sorted, IPv4 only. */
  readonly externalIPs: readonly string[];
  readonly nodePort: number | undefined;
  /** ClientIP affinity timeout, absent when affinity is None. */
  readonly affinitySeconds: number | undefined;
  /** The service port as the view has it, with its endpoints. */
  readonly view: ServicePortView;
}

/** Why a service port got no portal; logged and counted by the caller, never fatal. */
export class PortalSkipped extends KeelError {
  override name = 'PortalSkipped' as const;
  constructor(subject: string, reason: string) {
    super('KEEL_INVALID_OBJECT', reason, { subject });
  }
}

function portalName(service: NamespacedName, portName: string): PortalName {
  return `${service}:${portName}`;
}

/**
 * The service ports that need a userspace listener, sorted by name.
 * Headless and ExternalName services have none; SCTP and IPv6 are outside
 * what the legacy userspace proxier served, so they are skipped with a reason.
 */
export function servicePortals(views: readonly ServiceView[]): { portals: ServicePortal[]; skipped: PortalSkipped[] } {
  const portals: ServicePortal[] = [];
  const skipped: PortalSkipped[] = [];
  const v4 = (ip: IpAddress): boolean => ip.family === 4;
  for (const view of views) {
    const clusterIP = view.clusterIPs[0];
    if (view.type === 'ExternalName' || view.headless || clusterIP === undefined) continue;
    const subject = `service ${view.key}`;
    if (!v4(clusterIP)) {
      skipped.push(new PortalSkipped(subject, `clusterIP ${clusterIP.text}: the userspace proxy serves IPv4 only`));
      continue;
    }
    const externalIPs = [...new Set([...view.externalIPs, ...view.loadBalancerIPs].filter(v4).map((ip) => ip.text))].sort();
    for (const p of view.ports) {
      if (p.protocol === 'SCTP') {
        skipped.push(new PortalSkipped(subject, `port ${p.port}/SCTP: the userspace proxy serves TCP and UDP only`));
        continue;
      }
      portals.push({
        name: portalName(view.key, p.name),
        service: view.key,
        portName: p.name,
        protocol: p.protocol,
        clusterIP: clusterIP.text,
        port: p.port,
        externalIPs,
        nodePort: p.nodePort,
        affinitySeconds: view.affinityTimeoutSeconds,
        view: p,
      });
    }
  }
  portals.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { portals, skipped };
}
