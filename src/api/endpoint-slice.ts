import { isDnsLabel, readMeta, type FieldReader, type ObjectMeta } from './meta.js';
import { parseIpSloppy } from './ip.js';
import { readObjectReference, type ObjectReference } from './endpoints.js';
import { PROTOCOLS, type Protocol } from './service.js';

export type AddressType = 'IPv4' | 'IPv6' | 'FQDN';

/** The label that ties a slice to its Service (discovery.k8s.io/v1 LabelServiceName). */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Where endpoints come from: `auto` takes EndpointSlices when the cluster has any, else v1 Endpoints. */
export type EndpointsSource = 'auto' | 'endpointslices' | 'endpoints';
export const ENDPOINTS_SOURCES: readonly EndpointsSource[] = ['auto', 'endpointslices', 'endpoints'];

/** `namespace/service` of the Service a slice belongs to; undefined without the label (kube-proxy ignores such slices). */
export function sliceServiceKey(slice: EndpointSlice): string | undefined {
  const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
  return service ? `${slice.metadata.namespace}/${service}` : undefined;
}

/** Slices grouped by their service's key, each group sorted by slice name. */
export function groupSlices(slices: Iterable<EndpointSlice>): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const slice of slices) {
    const key = sliceServiceKey(slice);
    if (key === undefined) continue;
    const group = out.get(key) ?? [];
    group.push(slice);
    out.set(key, group);
  }
  for (const group of out.values()) group.sort(bySliceName);
  return out;
}

export function bySliceName(a: EndpointSlice, b: EndpointSlice): number {
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/** The slices a snapshot should carry for a source: none for `endpoints`, and none for `auto` when the cluster has no slice. */
export function selectSlices<T>(
  source: EndpointsSource,
  groups: ReadonlyMap<string, T>,
  anySlice = groups.size > 0,
): ReadonlyMap<string, T> | undefined {
  return source === 'endpointslices' || (source === 'auto' && anySlice) ? groups : undefined;
}

/** Absent conditions mean unknown: ready and serving are then read as true, terminating as false (the API's documented reading). */
export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface SliceEndpoint {
  addresses: string[];
  conditions: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  hints?: { forZones: { name: string }[] };
  targetRef?: ObjectReference;
}

export interface SlicePort {
  name?: string;
  protocol: Protocol;
  /** Absent: "all ports", which kube-proxy cannot program and skips. */
  port?: number;
}

export interface EndpointSlice {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: ObjectMeta;
  addressType: AddressType;
  endpoints: SliceEndpoint[];
  ports: SlicePort[];
}

export function validateEndpointSlice(raw: Record<string, unknown>): EndpointSlice {
  const read = readMeta('EndpointSlice', raw, { subdomainName: true });
  const r: FieldReader = read.r;
  const type = r.oneOf<AddressType | ''>(raw.addressType, 'addressType', ['IPv4', 'IPv6', 'FQDN'], '');
  if (type === '') r.fail('addressType', 'is required (IPv4, IPv6 or FQDN)');
  const addressType: AddressType = type;
  const endpoints = r.array(raw.endpoints, 'endpoints').map((v, i) => readEndpoint(r, v, `endpoints[${i}]`, addressType));
  const names = new Set<string>();
  const ports = r.array(raw.ports, 'ports').map((v, i) => {
    const f = `ports[${i}]`;
    const p = r.object(v, f);
    const port: SlicePort = { protocol: r.oneOf<Protocol>(p.protocol, `${f}.protocol`, PROTOCOLS, 'TCP') };
    const name = r.optionalString(p.name, `${f}.name`) ?? '';
    if (name !== '' && !isDnsLabel(name)) r.fail(`${f}.name`, `${JSON.stringify(name)} is not a DNS label`);
    if (names.has(name)) r.fail(`${f}.name`, `duplicate port name ${JSON.stringify(name)}`);
    names.add(name);
    if (name) port.name = name;
    if (p.port !== undefined && p.port !== null) port.port = r.integer(p.port, `${f}.port`, 1, 65_535);
    return port;
  });
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: read.meta, addressType, endpoints, ports };
}

function readEndpoint(r: FieldReader, value: unknown, f: string, addressType: AddressType): SliceEndpoint {
  const e = r.object(value, f);
  const addresses = r.array(e.addresses, `${f}.addresses`).map((v, j) => {
    const text = r.string(v, `${f}.addresses[${j}]`);
    if (addressType === 'FQDN') return text;
    const ip = parseIpSloppy(text);
    if (!ip || `IPv${ip.family}` !== addressType)
      r.fail(`${f}.addresses[${j}]`, `${JSON.stringify(text)} is not an ${addressType} address`);
    return ip.text;
  });
  if (addresses.length === 0) r.fail(`${f}.addresses`, 'at least one address is required');
  const c = r.optionalObject(e.conditions, `${f}.conditions`) ?? {};
  const conditions: EndpointConditions = {};
  for (const k of ['ready', 'serving', 'terminating'] as const) {
    const b = r.boolean(c[k], `${f}.conditions.${k}`);
    if (b !== undefined) conditions[k] = b;
  }
  const out: SliceEndpoint = { addresses, conditions };
  const hostname = r.optionalString(e.hostname, `${f}.hostname`);
  if (hostname) {
    if (!isDnsLabel(hostname)) r.fail(`${f}.hostname`, `${JSON.stringify(hostname)} is not a DNS label`);
    out.hostname = hostname;
  }
  for (const k of ['nodeName', 'zone'] as const) {
    const s = r.optionalString(e[k], `${f}.${k}`);
    if (s) out[k] = s;
  }
  const hints = r.optionalObject(e.hints, `${f}.hints`);
  if (hints) {
    out.hints = {
      forZones: r.array(hints.forZones, `${f}.hints.forZones`).map((z, j) => ({
        name: r.string(r.object(z, `${f}.hints.forZones[${j}]`).name, `${f}.hints.forZones[${j}].name`),
      })),
    };
  }
  const ref = readObjectReference(r, e.targetRef, `${f}.targetRef`);
  if (ref) out.targetRef = ref;
  return out;
}
