import type { Endpoints } from '../api/endpoints.js';
import type { EndpointSlice } from '../api/endpoint-slice.js';
import { nodeAddress, type Node } from '../api/node.js';
import { isPodReady, type Pod } from '../api/pod.js';
import type { ResourceKind } from '../api/meta.js';
import type { ApiObject } from '../api/object.js';
import type { Service } from '../api/service.js';

type Row = (obj: ApiObject, now: Date) => string[];

interface Columns {
  headers: string[];
  row: Row;
  /** Extra columns for `-o wide`. */
  wideHeaders: string[];
  wideRow: Row;
}

/** kubectl's columns, so the tables read the same. */
export const COLUMNS: Record<ResourceKind, Columns> = {
  Service: {
    headers: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'],
    row: (o, now) => {
      const s = o as Service;
      return [s.metadata.name, s.spec.type, clusterIpColumn(s), externalIpColumn(s), portsColumn(s), age(s, now)];
    },
    wideHeaders: ['SELECTOR'],
    wideRow: (o) => [selectorColumn((o as Service).spec.selector)],
  },
  Endpoints: {
    headers: ['NAME', 'ENDPOINTS', 'AGE'],
    row: (o, now) => [o.metadata.name, endpointsColumn(o as Endpoints), age(o, now)],
    wideHeaders: [],
    wideRow: () => [],
  },
  Pod: {
    headers: ['NAME', 'READY', 'STATUS', 'AGE'],
    row: (o, now) => {
      const p = o as Pod;
      return [p.metadata.name, isPodReady(p) ? '1/1' : '0/1', p.status?.phase ?? 'Pending', age(p, now)];
    },
    // PROGRAM is keel's: what the sandbox runs for each container's image (Debian's nginx, a stand-in, …).
    wideHeaders: ['IP', 'NODE', 'PROGRAM'],
    wideRow: (o) => [(o as Pod).status?.podIP ?? '<none>', (o as Pod).spec.nodeName ?? '<none>', programColumn(o as Pod)],
  },
  EndpointSlice: {
    headers: ['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE'],
    row: (o, now) => {
      const s = o as EndpointSlice;
      const ports = s.ports.map((p) => (p.port === undefined ? '<unset>' : String(p.port))).join(',') || '<unset>';
      return [s.metadata.name, s.addressType, ports, firstThree(s.endpoints.flatMap((e) => e.addresses)), age(s, now)];
    },
    wideHeaders: [],
    wideRow: () => [],
  },
  // keel reads no node conditions or versions, so STATUS, ROLES and VERSION are left out.
  Node: {
    headers: ['NAME', 'AGE'],
    row: (o, now) => [o.metadata.name, age(o, now)],
    wideHeaders: ['INTERNAL-IP', 'EXTERNAL-IP'],
    wideRow: (o) => [nodeAddress(o as Node, 'InternalIP') ?? '<none>', nodeAddress(o as Node, 'ExternalIP') ?? '<none>'],
  },
};

function programColumn(p: Pod): string {
  const programs = (p.status?.containerStatuses ?? []).map((c) => c.imageID).filter(Boolean);
  return programs.length ? programs.join(',') : '<none>';
}

function clusterIpColumn(s: Service): string {
  if (s.spec.type === 'ExternalName') return '<none>';
  return s.spec.clusterIP ?? '<pending>';
}

function externalIpColumn(s: Service): string {
  if (s.spec.type === 'ExternalName') return s.spec.externalName ?? '<none>';
  const ips = [...(s.spec.externalIPs ?? []), ...(s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '')].filter(
    Boolean,
  );
  if (ips.length) return ips.join(',');
  return s.spec.type === 'LoadBalancer' ? '<pending>' : '<none>';
}

function portsColumn(s: Service): string {
  if (s.spec.ports.length === 0) return '<none>';
  return s.spec.ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`).join(',');
}

function selectorColumn(sel: Record<string, string> | undefined): string {
  return sel
    ? Object.entries(sel)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
    : '<none>';
}

/** kubectl's ENDPOINTS: address:port, an IPv6 address bracketed (net.JoinHostPort). */
function endpointsColumn(e: Endpoints): string {
  return firstThree(
    e.subsets.flatMap((s) =>
      s.addresses.flatMap((a) =>
        s.ports.length ? s.ports.map((p) => (a.ip.includes(':') ? `[${a.ip}]:${p.port}` : `${a.ip}:${p.port}`)) : [a.ip],
      ),
    ),
  );
}

function firstThree(all: string[]): string {
  if (all.length === 0) return '<none>';
  return all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',');
}

/** kubectl's short age: 45s, 12m, 5h, 3d. */
function age(o: ApiObject, now: Date): string {
  const created = o.metadata.creationTimestamp;
  if (!created) return '<unknown>';
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(created)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7_200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3_600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

export function formatTable(rows: string[][]): string {
  const widths = rows.reduce<number[]>((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}
