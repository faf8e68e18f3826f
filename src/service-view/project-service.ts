import { namespacedName } from '../api/cluster-state.js';
import type { EndpointAddress, Endpoints } from '../api/endpoints.js';
import { ValidationError } from '../api/errors.js';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../api/ip.js';
import { subjectOf } from '../api/meta.js';
import { affinityTimeoutSeconds, hasNodePorts, isHeadless, needsHealthCheck, publishesNotReady, type Service } from '../api/service.js';
import { portEndpoints } from './port-endpoints.js';
import { servicePortName } from './service-port-name.js';
import type { EndpointGroup, EndpointView, ServiceView } from './service-view.js';

/**
 * Projects one Service and its Endpoints into the view every programmer
 * reads. Pure. Addresses are parsed here, once; a value that does not parse
 * (the validator should have refused it) throws a ValidationError naming
 * the object and field, and the caller rejects that one service.
 */
export function projectService(svc: Service, eps: Endpoints | undefined, nodeName: string | undefined): ServiceView {
  const { namespace, name } = svc.metadata;
  const key = namespacedName(namespace, name);
  const subject = subjectOf('Service', namespace, name);
  const s = svc.spec;
  const headless = isHeadless(svc);
  const addressed = s.type !== 'ExternalName' && !headless;
  const clusterIPs = addressed
    ? (s.clusterIPs ?? (s.clusterIP ? [s.clusterIP] : [])).map((ip, i) => address(subject, `spec.clusterIPs[${i}]`, ip))
    : [];
  const loadBalancerIPs = (svc.status?.loadBalancer?.ingress ?? []).flatMap((ing, i) =>
    ing.ip ? [address(subject, `status.loadBalancer.ingress[${i}].ip`, ing.ip)] : [],
  );
  const endpointGroups = eps ? groupsOf(eps, nodeName) : [];
  const nodePorts = hasNodePorts(svc);
  return {
    key,
    namespace,
    name,
    type: s.type,
    headless,
    externalName: s.type === 'ExternalName' ? s.externalName : undefined,
    clusterIPs,
    externalIPs: (s.externalIPs ?? []).map((ip, i) => address(subject, `spec.externalIPs[${i}]`, ip)),
    loadBalancerIPs,
    loadBalancerSourceRanges: (s.loadBalancerSourceRanges ?? []).map((c, i) => cidr(subject, `spec.loadBalancerSourceRanges[${i}]`, c)),
    affinityTimeoutSeconds: affinityTimeoutSeconds(svc),
    externalTrafficPolicy: s.externalTrafficPolicy ?? 'Cluster',
    internalTrafficPolicy: s.internalTrafficPolicy ?? 'Cluster',
    healthCheckNodePort: needsHealthCheck(svc) ? s.healthCheckNodePort : undefined,
    publishNotReadyAddresses: publishesNotReady(svc),
    ports: s.ports.map((p) => {
      const portName = p.name ?? '';
      return {
        name: portName,
        servicePortName: servicePortName(namespace, name, p.name),
        protocol: p.protocol,
        port: p.port,
        nodePort: nodePorts ? p.nodePort : undefined,
        endpoints: portEndpoints(endpointGroups, portName, p.protocol),
      };
    }),
    endpointGroups,
  };
}

function groupsOf(eps: Endpoints, nodeName: string | undefined): EndpointGroup[] {
  const subject = subjectOf('Endpoints', eps.metadata.namespace, eps.metadata.name);
  return eps.subsets.map((subset, i) => {
    // v1 has two lists only: addresses are ready and serving, notReadyAddresses neither; v1 cannot say terminating.
    const one = (a: EndpointAddress, j: number, ready: boolean): EndpointView => ({
      ip: parseIp(a.ip) ?? invalid(subject, `subsets[${i}].${ready ? 'addresses' : 'notReadyAddresses'}[${j}].ip`, a.ip),
      ready,
      serving: ready,
      terminating: false,
      nodeName: a.nodeName,
      hostname: a.hostname,
      isLocal: nodeName !== undefined && a.nodeName === nodeName,
    });
    return {
      endpoints: [...subset.addresses.map((a, j) => one(a, j, true)), ...subset.notReadyAddresses.map((a, j) => one(a, j, false))],
      ports: subset.ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol })),
    };
  });
}

function address(subject: string, field: string, text: string): IpAddress {
  return parseIp(text) ?? invalid(subject, field, text);
}

function invalid(subject: string, field: string, text: string): never {
  throw new ValidationError(subject, field, `${JSON.stringify(text)} is not an IP address`);
}

function cidr(subject: string, field: string, text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new ValidationError(subject, field, `${JSON.stringify(text)} is not a CIDR`);
  return c;
}
