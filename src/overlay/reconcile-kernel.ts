import { cidrsOverlap, type Cidr } from '../api/ip.js';
import type { Logger } from '../observe/log.js';
import type { DesiredKernel } from './backends/backend.js';
import { kernelChanges, routesProgrammed } from './metrics.js';
import { describeRoute, KEEL_ROUTE_PROTOCOL, type KernelRoute, type NetlinkPort } from '../kernel/netlink/netlink-port.js';

export interface ReconcileScope {
  /** Only routes inside the Networks (one per family), installed with keel's protocol, are ever changed or removed. */
  networks: readonly Cidr[];
  /** Neighbour and FDB entries are owned on these devices only (flannel.N, flannel-v6.N). */
  ownedIfindexes: readonly number[];
}

export interface ReconcileResult {
  added: number;
  removed: number;
}

const neighKey = (n: { ifindex: number; ip: { text: string }; mac: string }): string => `${n.ifindex}|${n.ip.text}|${n.mac}`;
const fdbKey = (f: { ifindex: number; mac: string; dst: { text: string } }): string => `${f.ifindex}|${f.mac}|${f.dst.text}`;
const routeKey = (r: KernelRoute): string => `${r.dst.text}|${r.gateway?.text ?? ''}|${r.oif}|${r.onlink}`;

/**
 * Makes the kernel hold exactly the desired entries among those keel owns:
 * adds what is missing (including entries someone deleted), removes what
 * no lease wants any more, and leaves everything else alone.
 */
export async function reconcileKernel(
  port: NetlinkPort,
  desired: DesiredKernel,
  scope: ReconcileScope,
  log: Logger,
): Promise<ReconcileResult> {
  const result = { added: 0, removed: 0 };
  const all = await port.routes();
  const owned = all.filter((r) => r.protocol === KEEL_ROUTE_PROTOCOL && scope.networks.some((n) => cidrsOverlap(r.dst, n)));
  const foreign = new Set(all.filter((r) => r.protocol !== KEEL_ROUTE_PROTOCOL).map((r) => r.dst.text));
  const want = new Map(desired.routes.map((r) => [routeKey(r), r]));
  const have = new Set(owned.map(routeKey));
  for (const r of owned) {
    if (!want.has(routeKey(r))) {
      await port.delRoute(r);
      result.removed++;
      kernelChanges.inc({ kind: 'route', op: 'del' });
      log.info('removed route', { route: describeRoute(r) });
    }
  }
  for (const [k, r] of want) {
    if (have.has(k)) continue;
    if (foreign.has(r.dst.text)) {
      log.warn('a route keel does not own covers this subnet; leaving it', { route: describeRoute(r) });
      continue;
    }
    await port.addRoute(r);
    result.added++;
    kernelChanges.inc({ kind: 'route', op: 'add' });
    log.info('added route', { route: describeRoute(r) });
  }
  routesProgrammed.set({ kind: 'route' }, want.size);

  const wantN = new Map(desired.neighbors.map((n) => [neighKey(n), n]));
  const wantF = new Map(desired.fdb.map((f) => [fdbKey(f), f]));
  for (const ifindex of scope.ownedIfindexes) {
    const haveN = (await port.neighbors(ifindex)).filter((n) => n.permanent);
    const haveNKeys = new Set(haveN.map(neighKey));
    for (const n of haveN)
      if (!wantN.has(neighKey(n))) {
        await port.delNeighbor(n);
        result.removed++;
        kernelChanges.inc({ kind: 'neighbor', op: 'del' });
      }
    for (const [k, n] of wantN)
      if (n.ifindex === ifindex && !haveNKeys.has(k)) {
        await port.addNeighbor(n);
        result.added++;
        kernelChanges.inc({ kind: 'neighbor', op: 'add' });
      }

    const haveF = await port.fdb(ifindex);
    const haveFKeys = new Set(haveF.map(fdbKey));
    for (const f of haveF)
      if (!wantF.has(fdbKey(f))) {
        await port.delFdb(f);
        result.removed++;
        kernelChanges.inc({ kind: 'fdb', op: 'del' });
      }
    for (const [k, f] of wantF)
      if (f.ifindex === ifindex && !haveFKeys.has(k)) {
        await port.addFdb(f);
        result.added++;
        kernelChanges.inc({ kind: 'fdb', op: 'add' });
      }
  }
  routesProgrammed.set({ kind: 'neighbor' }, wantN.size);
  routesProgrammed.set({ kind: 'fdb' }, wantF.size);
  return result;
}
