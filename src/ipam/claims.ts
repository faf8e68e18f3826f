import { isHeadless, type Service } from '../api/service.js';
import type { KvStore, TxnOp, KeyAt } from '../store/kv-store.js';
import type { Taken } from './service-allocation.js';

/**
 * One etcd key per allocated ClusterIP and NodePort, holding its owner
 * (`ns/name`). Creating a claim only if absent, in the same transaction
 * that writes the service, is what makes allocation race-free across
 * processes and nodes.
 */
export interface Claim {
  key: string;
  owner: string;
  modRevision: number;
}

export class ClaimBook {
  constructor(
    private readonly kv: KvStore,
    private readonly prefix: string,
  ) {}

  ipKey(ip: string): string {
    return `${this.prefix}/keel/ipam/clusterips/${ip}`;
  }

  portKey(port: number): string {
    return `${this.prefix}/keel/ipam/nodeports/${port}`;
  }

  async load(): Promise<{ ips: Map<string, Claim>; ports: Map<number, Claim> }> {
    const [ips, ports] = await Promise.all([
      this.kv.list(`${this.prefix}/keel/ipam/clusterips/`),
      this.kv.list(`${this.prefix}/keel/ipam/nodeports/`),
    ]);
    const toClaim = (e: { key: string; value: Buffer; modRevision: number }): Claim => ({
      key: e.key,
      owner: e.value.toString(),
      modRevision: e.modRevision,
    });
    return {
      ips: new Map(ips.entries.map((e) => [e.key.slice(e.key.lastIndexOf('/') + 1), toClaim(e)])),
      ports: new Map(ports.entries.map((e) => [Number(e.key.slice(e.key.lastIndexOf('/') + 1)), toClaim(e)])),
    };
  }
}

/** What is taken: claims, plus addresses of services written by tools that make no claims. */
export function takenFrom(claims: { ips: Map<string, Claim>; ports: Map<number, Claim> }, services: readonly Service[]): Taken {
  const ips = new Map([...claims.ips].map(([ip, c]) => [ip, c.owner]));
  const nodePorts = new Map([...claims.ports].map(([p, c]) => [p, c.owner]));
  for (const svc of services) {
    const owner = `${svc.metadata.namespace}/${svc.metadata.name}`;
    if (!isHeadless(svc)) for (const ip of svc.spec.clusterIPs ?? []) if (!ips.has(ip)) ips.set(ip, owner);
    for (const p of svc.spec.ports) if (p.nodePort !== undefined && !nodePorts.has(p.nodePort)) nodePorts.set(p.nodePort, owner);
    const hc = svc.spec.healthCheckNodePort;
    if (hc !== undefined && !nodePorts.has(hc)) nodePorts.set(hc, owner);
  }
  return { ips, nodePorts };
}

/** Conditions and ops that move an owner's claims from what it holds to `ips`/`ports`. */
export function claimChanges(
  book: ClaimBook,
  claims: { ips: Map<string, Claim>; ports: Map<number, Claim> },
  owner: string,
  ips: readonly string[],
  ports: readonly number[],
): { conditions: KeyAt[]; ops: TxnOp[] } {
  const conditions: KeyAt[] = [];
  const ops: TxnOp[] = [];
  const want = (key: string, held: Claim | undefined): void => {
    if (held?.owner === owner) return;
    conditions.push({ key, modRevision: held?.modRevision ?? 0 });
    ops.push({ put: key, value: owner });
  };
  for (const ip of ips) want(book.ipKey(ip), claims.ips.get(ip));
  for (const port of ports) want(book.portKey(port), claims.ports.get(port));
  const release = (held: Claim): void => {
    conditions.push({ key: held.key, modRevision: held.modRevision });
    ops.push({ delete: held.key });
  };
  for (const [ip, c] of claims.ips) if (c.owner === owner && !ips.includes(ip)) release(c);
  for (const [port, c] of claims.ports) if (c.owner === owner && !ports.includes(port)) release(c);
  return { conditions, ops };
}
