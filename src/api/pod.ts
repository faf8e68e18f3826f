import { isDnsLabel, readMeta, type FieldReader, type ObjectMeta } from './meta.js';
import { parseIp } from './ip.js';
import { PROTOCOLS, type Protocol } from './service.js';

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol: Protocol;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: ContainerPort[];
  env?: { name: string; value: string }[];
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodSpec {
  nodeName?: string;
  hostname?: string;
  subdomain?: string;
  containers: Container[];
}

export interface PodStatus {
  phase?: PodPhase;
  hostIP?: string;
  podIP?: string;
  podIPs?: { ip: string }[];
  conditions?: { type: string; status: 'True' | 'False' | 'Unknown' }[];
  containerStatuses?: ContainerStatus[];
}

/** Kubernetes' per-container status, as far as keel reports it; the sandbox names the program it runs in `imageID`. */
export interface ContainerStatus {
  name: string;
  ready: boolean;
  imageID?: string;
}

export interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: PodStatus;
}

export function isPodReady(pod: Pod): boolean {
  return pod.status?.phase === 'Running' && (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

export function validatePod(raw: Record<string, unknown>): Pod {
  const read = readMeta('Pod', raw);
  const meta = read.meta;
  const r: FieldReader = read.r;
  const s = r.object(raw.spec ?? {}, 'spec');
  const spec: PodSpec = { containers: readContainers(r, s.containers) };
  for (const k of ['nodeName', 'hostname', 'subdomain'] as const) {
    const v = r.optionalString(s[k], `spec.${k}`);
    if (v === undefined || v === '') continue;
    if (k !== 'nodeName' && !isDnsLabel(v)) r.fail(`spec.${k}`, `${JSON.stringify(v)} is not a DNS label`);
    spec[k] = v;
  }
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec };
  const st = r.optionalObject(raw.status, 'status');
  if (st) pod.status = readStatus(r, st);
  return pod;
}

function readContainers(r: FieldReader, value: unknown): Container[] {
  const items = r.array(value, 'spec.containers');
  if (items.length === 0) r.fail('spec.containers', 'at least one container is required');
  return items.map((v, i) => {
    const f = `spec.containers[${i}]`;
    const c = r.object(v, f);
    const name = r.string(c.name, `${f}.name`);
    if (!isDnsLabel(name)) r.fail(`${f}.name`, `${JSON.stringify(name)} is not a DNS label`);
    const out: Container = { name };
    const image = r.optionalString(c.image, `${f}.image`);
    if (image) out.image = image;
    for (const k of ['command', 'args'] as const) {
      const list = r.array(c[k], `${f}.${k}`).map((x, j) => r.string(x, `${f}.${k}[${j}]`));
      if (list.length) out[k] = list;
    }
    const ports = r.array(c.ports, `${f}.ports`).map((pv, j) => {
      const pf = `${f}.ports[${j}]`;
      const p = r.object(pv, pf);
      const port: ContainerPort = {
        containerPort: r.integer(p.containerPort, `${pf}.containerPort`, 1, 65_535),
        protocol: r.oneOf<Protocol>(p.protocol, `${pf}.protocol`, PROTOCOLS, 'TCP'),
      };
      const pname = r.optionalString(p.name, `${pf}.name`);
      if (pname) port.name = pname;
      return port;
    });
    if (ports.length) out.ports = ports;
    const env = r.array(c.env, `${f}.env`).map((ev, j) => {
      const e = r.object(ev, `${f}.env[${j}]`);
      return { name: r.string(e.name, `${f}.env[${j}].name`), value: r.optionalString(e.value, `${f}.env[${j}].value`) ?? '' };
    });
    if (env.length) out.env = env;
    return out;
  });
}

function readStatus(r: FieldReader, st: Record<string, unknown>): PodStatus {
  const status: PodStatus = {};
  const phase = r.oneOf<PodPhase | ''>(st.phase, 'status.phase', ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'], '');
  if (phase) status.phase = phase;
  for (const k of ['hostIP', 'podIP'] as const) {
    const v = r.optionalString(st[k], `status.${k}`);
    if (!v) continue;
    const ip = parseIp(v);
    if (!ip) r.fail(`status.${k}`, `${JSON.stringify(v)} is not an IP address`);
    status[k] = ip.text;
  }
  const podIPs = r.array(st.podIPs, 'status.podIPs').map((v, i) => {
    const o = r.object(v, `status.podIPs[${i}]`);
    const ip = parseIp(r.string(o.ip, `status.podIPs[${i}].ip`));
    if (!ip) r.fail(`status.podIPs[${i}].ip`, 'is not an IP address');
    return { ip: ip.text };
  });
  if (podIPs.length) status.podIPs = podIPs;
  const conditions = r.array(st.conditions, 'status.conditions').map((v, i) => {
    const o = r.object(v, `status.conditions[${i}]`);
    return {
      type: r.string(o.type, `status.conditions[${i}].type`),
      status: r.oneOf(o.status, `status.conditions[${i}].status`, ['True', 'False', 'Unknown'] as const, 'Unknown'),
    };
  });
  if (conditions.length) status.conditions = conditions;
  const containerStatuses = r.array(st.containerStatuses, 'status.containerStatuses').map((v, i) => {
    const f = `status.containerStatuses[${i}]`;
    const o = r.object(v, f);
    const cs: ContainerStatus = { name: r.string(o.name, `${f}.name`), ready: r.boolean(o.ready, `${f}.ready`) ?? false };
    const imageID = r.optionalString(o.imageID, `${f}.imageID`);
    if (imageID) cs.imageID = imageID;
    return cs;
  });
  if (containerStatuses.length) status.containerStatuses = containerStatuses;
  return status;
}
