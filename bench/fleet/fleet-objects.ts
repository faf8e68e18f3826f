/**
 * What the simulated cluster holds: S Services, each with an Endpoints of
 * three addresses and one Pod, plus one flannel subnet lease per node —
 * Kubernetes' and flannel's key layout, as keel agents read them.
 */
import { objectKey } from '../../src/api/object.js';
import type { KvStore, TxnOp } from '../../src/store/kv-store.js';

const NS = 'fleet';
const ip = (k: number): string => `10.${244 + (Math.floor(k / 65_025) % 4)}.${Math.floor(k / 255) % 255}.${(k % 255) + 1}`;

const serviceJson = (i: number): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: NS, labels: { app: `app-${i}` } },
    spec: {
      type: 'ClusterIP',
      clusterIP: `10.${96 + Math.floor(i / 65_025)}.${Math.floor(i / 255) % 255}.${(i % 255) + 1}`,
      selector: { app: `app-${i}` },
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    },
  });

/** The endpoints of service i at generation g: three addresses, one of which moves with g. */
const endpointsJson = (i: number, g: number): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: `svc-${i}`, namespace: NS },
    subsets: [
      {
        addresses: [ip(i * 3), ip(i * 3 + 1), ip((i * 3 + 2 + g * 7_919) % 250_000)].map((a, j) => ({
          ip: a,
          nodeName: `node-${(i + j) % 1_000}`,
        })),
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ],
  });

const podJson = (i: number): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `app-${i}-0`, namespace: NS, labels: { app: `app-${i}` } },
    spec: { nodeName: `node-${i % 1_000}`, containers: [{ name: 'app', image: 'nginx', ports: [{ containerPort: 8080 }] }] },
    status: { phase: 'Running', podIP: ip(i * 3), conditions: [{ type: 'Ready', status: 'True' }] },
  });

const leaseJson = (n: number): string =>
  JSON.stringify({ PublicIP: `172.30.${Math.floor(n / 250)}.${(n % 250) + 1}`, BackendType: 'vxlan' });
const leaseKey = (n: number): string => `/coreos.com/network/subnets/10.${100 + Math.floor(n / 256)}.${n % 256}.0-24`;

async function inTxns(kv: KvStore, ops: readonly TxnOp[]): Promise<number> {
  let rev = 0;
  // etcd refuses transactions of more than 128 operations.
  for (let at = 0; at < ops.length; at += 100) rev = (await kv.txn([], ops.slice(at, at + 100))).revision;
  return rev;
}

/** Writes the services, endpoints and pods; a larger size later rewrites the first ones and adds the rest. */
export function loadServices(kv: KvStore, services: number): Promise<number> {
  const ops: TxnOp[] = [];
  for (let i = 0; i < services; i++) {
    ops.push({ put: objectKey('/registry', 'Service', NS, `svc-${i}`), value: serviceJson(i) });
    ops.push({ put: objectKey('/registry', 'Endpoints', NS, `svc-${i}`), value: endpointsJson(i, 0) });
    ops.push({ put: objectKey('/registry', 'Pod', NS, `app-${i}-0`), value: podJson(i) });
  }
  return inTxns(kv, ops);
}

export function loadLeases(kv: KvStore, nodes: number): Promise<number> {
  return inTxns(
    kv,
    Array.from({ length: nodes }, (_, n) => ({ put: leaseKey(n), value: leaseJson(n) })),
  );
}

/** One endpoint moves, the most common change a cluster makes: the Endpoints' namespace/name and the revision it was written at. */
export async function moveEndpoint(kv: KvStore, services: number, g: number): Promise<{ name: string; rev: number }> {
  const i = (g * 7_919) % services;
  const rev = await kv.put(objectKey('/registry', 'Endpoints', NS, `svc-${i}`), endpointsJson(i, g));
  return { name: `${NS}/svc-${i}`, rev };
}
