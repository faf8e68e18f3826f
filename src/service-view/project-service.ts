import { namespacedName } from '../api/cluster-state.js';
import type { EndpointAddress, Endpoints } from '../api/endpoints.js';
import type { EndpointSlice } from '../api/endpoint-slice.js';
import { ValidationError } from '../api/errors.js';
import { parseCidr, parseIp, type IpAddress } from '../api/ip.js';
import { subjectOf } from '../api/meta.js';
import { affinityTimeoutSeconds, hasNodePorts, isHeadless, needsHealthCheck, publishesNotReady, type Service } from '../api/service.js';
import { portEndpoints } from './port-endpoints.js';
import { servicePortName } from './service-port-name.js';
import type { EndpointGroup, EndpointView, IgnoredField, ServiceView } from './service-view.js';

/**
 * Projects one Service and its Endpoints into the view every programmer
 * reads. Pure. Addresses are parsed here, once. An entry of externalIPs,
 * loadBalancerSourceRanges or the LB ingress IPs that does not parse is left
 * out and listed in ignoredFields, as kube-proxy's newBaseServiceInfo does
 * (pkg/proxy/serviceport.go; proxyutil MapIPsByIPFamily and
 * MapCIDRsByIPFamily log and skip it, an empty string silently). Any other
 * value that does not parse (a cluster IP, an endpoint address) throws a
 * ValidationError naming the object and field, and the caller rejects that
 * one service.
 */
export function projectService(
  svc: Service,
  eps: Endpoints | undefined,
  nodeName: string | undefined,
  slices?: readonly EndpointSlice[],
): ServiceView {
  const { namespace, name } = svc.metadata;
  const key = namespacedName(namespace, name);
  const subject = subjectOf('Service', namespace, name);
  const s = svc.spec;
  const headless = isHeadless(svc);
  const addressed = s.type !== 'ExternalName' && !headless;
  const clusterIPs = addressed
    ? (s.clusterIPs ?? (s.clusterIP ? [s.clusterIP] : [])).map((ip, i) => address(subject, `spec.clusterIPs[${i}]`, ip))
    : [];
  const ignoredFields: IgnoredField[] = [];
  const usable = <T>(parse: (text: string) => T | undefined, what: string, list: readonly string[], field: (i: number) => string): T[] =>
    list.flatMap((text, i) => {
      const value = parse(text);
      if (value) return [value];
      if (text.trim() !== '') ignoredFields.push({ field: field(i), value: text, reason: `is not ${what}` });
      return [];
    });
  const ingressIPs = (svc.status?.loadBalancer?.ingress ?? []).map((ing) => ing.ip ?? '');
  const loadBalancerIPs = usable(parseIp, 'an IP address', ingressIPs, (i) => `status.loadBalancer.ingress[${i}].ip`);
  const externalIPs = usable(parseIp, 'an IP address', s.externalIPs ?? [], (i) => `spec.externalIPs[${i}]`);
  const rangeTexts = s.loadBalancerSourceRanges ?? [];
  const loadBalancerSourceRanges = usable(parseCidr, 'a CIDR', rangeTexts, (i) => `spec.loadBalancerSourceRanges[${i}]`);
  const endpointGroups = slices ? sliceGroups(slices, nodeName) : eps ? groupsOf(eps, nodeName) : [];
  const nodePorts = hasNodePorts(svc);
  return {
    key,
    namespace,
    name,
    type: s.type,
    headless,
    externalName: s.type === 'ExternalName' ? s.externalName : undefined,
    clusterIPs,
    externalIPs,
    loadBalancerIPs,
    loadBalancerSourceRanges,
    loadBalancerSourceRangesInvalid: loadBalancerSourceRanges.length === 0 && rangeTexts.some((t) => t.trim() !== ''),
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
    ignoredFields,
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
    const endpoints = subset.addresses.map((a, j) => one(a, j, true));
    subset.notReadyAddresses.forEach((a, j) => endpoints.push(one(a, j, false)));
    return {
      endpoints,
      ports: subset.ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol })),
    };
  });
}

/**
 * One group per IPv4/IPv6 slice (FQDN slices name no address a proxy can use), as kube-proxy's
 * EndpointSliceCache reads them: each endpoint's first address only; ready when the condition
 * is absent; serving, when absent, as ready (the API's documented reading); terminating only when
 * true; ports without a number ("all ports") left out.
 */
function sliceGroups(slices: readonly EndpointSlice[], nodeName: string | undefined): EndpointGroup[] {
  return slices.flatMap((slice) => {
    if (slice.addressType === 'FQDN') return [];
    const subject = subjectOf('EndpointSlice', slice.metadata.namespace, slice.metadata.name);
    const endpoints = slice.endpoints.map((e, j): EndpointView => {
      const first = e.addresses[0] ?? '';
      const ready = e.conditions.ready ?? true;
      return {
        ip: parseIp(first) ?? invalid(subject, `endpoints[${j}].addresses[0]`, first),
        ready,
        serving: e.conditions.serving ?? ready,
        terminating: e.conditions.terminating ?? false,
        nodeName: e.nodeName,
        hostname: e.hostname,
        isLocal: nodeName !== undefined && e.nodeName === nodeName,
        ...(e.zone === undefined ? {} : { zone: e.zone }),
        ...(e.hints ? { zoneHints: e.hints.forZones.map((z) => z.name) } : {}),
      };
    });
    const ports = slice.ports.flatMap((p) => (p.port === undefined ? [] : [{ name: p.name ?? '', port: p.port, protocol: p.protocol }]));
    return [{ endpoints, ports }];
  });
}

function address(subject: string, field: string, text: string): IpAddress {
  return parseIp(text) ?? invalid(subject, field, text);
}

function invalid(subject: string, field: string, text: string): never {
  throw new ValidationError(subject, field, `${JSON.stringify(text)} is not an IP address`);
}
