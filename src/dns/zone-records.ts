import type { ClusterSnapshot, NamespacedName } from '../api/cluster-state.js';
import type { Pod } from '../api/pod.js';
import { ServiceViews } from '../service-view/service-views.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import { canonicalName, isInZone } from './dns-names.js';
import { podRecords, serviceRecords, zoneApexes, zoneRecords, type RecordSource } from './record-sources.js';
import type { DnsConfig, RecordIndex, Rr, RrType } from './records.js';

/** Not a name: what `update` reports when the SOA serial moved, which every NXDOMAIN and NODATA answer carries. */
export const SOA_SERIAL = '@soa-serial';

/**
 * Sources are kept under keys that sort the way records were always read:
 * keel's own zone data, then services by namespace/name, then pods.
 */
const ZONE = '0';
const SERVICE = '1';
const POD = '2';

interface Held {
  readonly byName: ReadonlyMap<string, readonly Rr[]>;
  /** Every name the source makes exist: its records' names, its own names, and their parents up to the zone apex. */
  readonly names: ReadonlySet<string>;
  readonly namespace: string | undefined;
  /** Equal signatures, equal contribution: a service whose endpoints moved but whose records did not touches nothing. */
  readonly signature: string;
}

/**
 * The record index, updated change by change: each source's records are
 * held apart, so a change to one service replaces that service's records
 * and rebuilds only the names they touch. A name's records are the union of
 * its sources' records in source order, duplicates dropped, SRV weights
 * shared; a name exists while any source makes it exist.
 */
export class ZoneRecords implements RecordIndex {
  readonly clusterZone: string;
  readonly zones: readonly string[];
  readonly soa = new Map<string, Rr>();
  readonly names = new Map<string, Map<RrType, Rr[]>>();
  readonly namespaces = new Set<string>();
  private readonly held = new Map<string, Held>();
  /** Name → the sources holding records under it. */
  private readonly recordSources = new Map<string, Set<string>>();
  /** Name → how many sources make it exist. */
  private readonly existing = new Map<string, number>();
  private readonly namespaceCount = new Map<string, number>();
  private readonly views: ServiceViews;
  private readonly pods = new Map<NamespacedName, Pod>();
  private revision: number | undefined;

  constructor(
    readonly config: DnsConfig,
    reportRejections = true,
  ) {
    this.views = new ServiceViews({ reportRejections });
    this.clusterZone = canonicalName(config.zone);
    this.zones = [...new Set(zoneApexes(config))].sort((a, b) => b.length - a.length);
  }

  /** Takes in one delivery; returns the names whose records or existence changed (and SOA_SERIAL when the serial moved). */
  update(snap: ClusterSnapshot, changed: ChangedKeys): Set<string> {
    const touched = new Set<string>();
    const serialMoved = snap.revision !== this.revision;
    if (serialMoved) {
      this.revision = snap.revision;
      const zone = zoneRecords(this.config, snap.revision);
      for (const rr of zone.records) if (rr.type === 'SOA') this.soa.set(rr.name, rr);
      this.put(ZONE, zone, touched);
    }
    for (const key of this.views.apply(snap, changed)) {
      const view = this.views.get(key);
      this.put(SERVICE + key, view && serviceRecords(view, this.config), touched);
    }
    for (const key of changed.full ? new Set([...snap.pods.keys(), ...this.pods.keys()]) : changed.pods) {
      const pod = snap.pods.get(key);
      if (pod === this.pods.get(key)) continue;
      if (pod) this.pods.set(key, pod);
      else this.pods.delete(key);
      this.put(POD + key, pod && podRecords(pod, this.config), touched);
    }
    for (const name of touched) this.rebuild(name);
    if (serialMoved) touched.add(SOA_SERIAL);
    return touched;
  }

  private put(key: string, source: RecordSource | undefined, touched: Set<string>): void {
    const next = source && this.hold(source);
    const old = this.held.get(key);
    if (old?.signature === next?.signature) return;
    if (next) this.held.set(key, next);
    else this.held.delete(key);
    // A name is touched when this source's records under it differ, or when it starts or stops existing.
    for (const name of new Set([...(old?.byName.keys() ?? []), ...(next?.byName.keys() ?? [])])) {
      const was = old?.byName.get(name);
      const is = next?.byName.get(name);
      if (was && is && JSON.stringify(was) === JSON.stringify(is)) continue;
      touched.add(name);
      const sources = this.recordSources.get(name) ?? new Set();
      if (is) this.recordSources.set(name, sources.add(key));
      else if (sources.delete(key) && sources.size === 0) this.recordSources.delete(name);
    }
    // Counted up before down, so a name both versions make exist never passes through zero.
    for (const name of next?.names ?? []) if (count(this.existing, name, 1) === 1) touched.add(name);
    for (const name of old?.names ?? []) if (count(this.existing, name, -1) === 0) touched.add(name);
    if (next?.namespace !== undefined && count(this.namespaceCount, next.namespace, 1) === 1) this.namespaces.add(next.namespace);
    if (old?.namespace !== undefined && count(this.namespaceCount, old.namespace, -1) === 0) this.namespaces.delete(old.namespace);
  }

  private hold(source: RecordSource): Held {
    const byName = new Map<string, Rr[]>();
    for (const rr of source.records) {
      const list = byName.get(rr.name);
      if (list) list.push(rr);
      else byName.set(rr.name, [rr]);
    }
    const names = new Set<string>();
    for (const name of [...byName.keys(), ...source.names]) this.addWithParents(name, names);
    const signature = JSON.stringify([source.records, source.names, source.namespace]);
    return { byName, names, namespace: source.namespace, signature };
  }

  /** Names between a record and its zone apex exist (empty non-terminals): `_tcp.web.default.svc.<zone>` answers NODATA, not NXDOMAIN. */
  private addWithParents(name: string, into: Set<string>): void {
    into.add(name);
    const zone = this.zones.find((z) => isInZone(name, z));
    if (zone === undefined) return;
    for (let n = name; n !== zone && n.includes('.');) {
      n = n.slice(n.indexOf('.') + 1);
      into.add(n);
    }
  }

  private rebuild(name: string): void {
    const sources = this.recordSources.get(name);
    if (!sources) {
      if (this.existing.has(name)) this.names.set(name, new Map());
      else this.names.delete(name);
      return;
    }
    const node = new Map<RrType, Rr[]>();
    for (const key of [...sources].sort()) {
      for (const rr of this.held.get(key)?.byName.get(name) ?? []) {
        const list = node.get(rr.type) ?? [];
        if (!list.some((o) => sameData(o, rr))) list.push(rr);
        node.set(rr.type, list);
      }
    }
    const srv = node.get('SRV');
    if (srv) node.set('SRV', spreadWeights(srv));
    this.names.set(name, node);
  }
}

/** Every record of one snapshot at once (tests, the bench, the zones known before the first snapshot). */
export function buildRecordIndex(snap: ClusterSnapshot, config: DnsConfig): RecordIndex {
  const index = new ZoneRecords(config);
  index.update(snap, { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
  return index;
}

/** Adds `by` to a count kept in `counts` (dropping it at zero); returns the new count. */
function count(counts: Map<string, number>, key: string, by: number): number {
  const n = (counts.get(key) ?? 0) + by;
  if (n === 0) counts.delete(key);
  else counts.set(key, n);
  return n;
}

/** CoreDNS's weighting (plugin/backend_lookup.go SRV): n targets of one priority share 100, floor(100/n) each, at least 1. */
function spreadWeights(list: Rr[]): Rr[] {
  const weight = Math.max(1, Math.floor(100 / list.length));
  return list.map((rr) => (rr.type === 'SRV' ? { ...rr, data: { ...rr.data, weight } } : rr));
}

function sameData(a: Rr, b: Rr): boolean {
  return JSON.stringify(a.data) === JSON.stringify(b.data);
}
