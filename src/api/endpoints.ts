import { isDnsLabel, readMeta, type FieldReader, type ObjectMeta } from './meta.js';
import { parseIpSloppy } from './ip.js';
import { PROTOCOLS, type Protocol } from './service.js';

export interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
}

export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: ObjectReference;
}

export interface EndpointPort {
  name?: string;
  port: number;
  protocol: Protocol;
}

export interface EndpointSubset {
  addresses: EndpointAddress[];
  notReadyAddresses: EndpointAddress[];
  ports: EndpointPort[];
}

export interface Endpoints {
  apiVersion: 'v1';
  kind: 'Endpoints';
  metadata: ObjectMeta;
  subsets: EndpointSubset[];
}

export function validateEndpoints(raw: Record<string, unknown>): Endpoints {
  const read = readMeta('Endpoints', raw);
  const meta = read.meta;
  const r: FieldReader = read.r;
  const subsets = r.array(raw.subsets, 'subsets').map((v, i) => {
    const f = `subsets[${i}]`;
    const s = r.object(v, f);
    const names = new Set<string>();
    const ports = r.array(s.ports, `${f}.ports`).map((pv, j) => {
      const pf = `${f}.ports[${j}]`;
      const p = r.object(pv, pf);
      const port: EndpointPort = {
        port: r.integer(p.port, `${pf}.port`, 1, 65_535),
        protocol: r.oneOf<Protocol>(p.protocol, `${pf}.protocol`, PROTOCOLS, 'TCP'),
      };
      const name = r.optionalString(p.name, `${pf}.name`);
      if (name) {
        if (!isDnsLabel(name)) r.fail(`${pf}.name`, `${JSON.stringify(name)} is not a DNS label`);
        if (names.has(name)) r.fail(`${pf}.name`, `duplicate port name ${JSON.stringify(name)}`);
        names.add(name);
        port.name = name;
      }
      return port;
    });
    return {
      addresses: readAddresses(r, s.addresses, `${f}.addresses`),
      notReadyAddresses: readAddresses(r, s.notReadyAddresses, `${f}.notReadyAddresses`),
      ports,
    };
  });
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: meta, subsets };
}

function readAddresses(r: FieldReader, value: unknown, field: string): EndpointAddress[] {
  return r.array(value, field).map((v, i) => {
    const f = `${field}[${i}]`;
    const a = r.object(v, f);
    const ipText = r.string(a.ip, `${f}.ip`);
    const ip = parseIpSloppy(ipText);
    if (!ip) r.fail(`${f}.ip`, `${JSON.stringify(ipText)} is not an IP address`);
    const addr: EndpointAddress = { ip: ip.text };
    const hostname = r.optionalString(a.hostname, `${f}.hostname`);
    if (hostname) {
      if (!isDnsLabel(hostname)) r.fail(`${f}.hostname`, `${JSON.stringify(hostname)} is not a DNS label`);
      addr.hostname = hostname;
    }
    const nodeName = r.optionalString(a.nodeName, `${f}.nodeName`);
    if (nodeName) addr.nodeName = nodeName;
    const ref = readObjectReference(r, a.targetRef, `${f}.targetRef`);
    if (ref) addr.targetRef = ref;
    return addr;
  });
}

export function readObjectReference(r: FieldReader, value: unknown, field: string): ObjectReference | undefined {
  const ref = r.optionalObject(value, field);
  if (!ref) return undefined;
  const out: ObjectReference = {};
  for (const k of ['kind', 'namespace', 'name', 'uid'] as const) {
    const s = r.optionalString(ref[k], `${field}.${k}`);
    if (s) out[k] = s;
  }
  return out;
}
