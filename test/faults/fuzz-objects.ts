/**
 * Deterministic hostile Service/Endpoints values for the bad-input fault
 * scenario. Every value is invalid by construction (the test checks that
 * against decodeStored); every attacker-chosen string carries PWN so the
 * kernel's rules can be searched for any leak.
 */
export interface FuzzEntry {
  /** Path below the prefix, e.g. `services/specs/fuzz/bad12x`. */
  path: string;
  value: Buffer;
  kind: 'Service' | 'Endpoints';
  index: number;
}

/** Strings that break iptables-restore, shells or log lines if they ever got through. */
const HOSTILE = [
  'PWN name with spaces',
  'PWN"; -j ACCEPT',
  'PWN\n-A KUBE-SERVICES -j ACCEPT\nCOMMIT',
  "PWN' --comment '",
  'PWN -m comment --comment "x"',
  'PWN\u0000nul',
  'PWNñ-ünïcødé-😀',
  'PWN\u202ertl',
  `PWN${'x'.repeat(70_000)}`,
  'PWN/../../etc',
  'PWN#comment',
  'PWN`id`$(id)',
];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Maker = (h: string, r: () => number, name: string) => unknown;

const svc = (name: string, spec: unknown, meta: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'fuzz', ...meta },
  spec,
});
const eps = (name: string, subsets: unknown, meta: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name, namespace: 'fuzz', ...meta },
  subsets,
});

const SERVICE_MAKERS: Maker[] = [
  (h) => svc(h, { clusterIP: '10.96.1.1', ports: [{ port: 80 }] }),
  (h, _r, n) => svc(n, { clusterIP: h, ports: [{ port: 80 }] }),
  (h, _r, n) => svc(n, { clusterIP: '10.96.1.2', ports: [{ port: 80, name: h }] }),
  (h, _r, n) => svc(n, { clusterIP: '10.96.1.3', ports: [{ port: 80, protocol: h }] }),
  (h, _r, n) => svc(n, { clusterIP: '10.96.1.4', type: h, ports: [{ port: 80 }] }),
  (h, _r, n) => svc(n, { clusterIP: '10.96.1.5', ports: [{ port: 80, targetPort: h }] }),
  (_h, r, n) => svc(n, { clusterIP: '10.96.1.6', ports: [{ port: 65_536 + Math.floor(r() * 1e9) }] }),
  (_h, r, n) => svc(n, { clusterIP: '10.96.1.7', ports: [{ port: -1 - Math.floor(r() * 1e6) }] }),
  (_h, _r, n) => svc(n, { clusterIP: '10.96.1.8', ports: '80' }),
  (_h, _r, n) => svc(n, { clusterIP: 12345, ports: [{ port: 80 }] }),
  (_h, _r, n) => svc(n, []),
  (_h, _r, n) => svc(n, { clusterIP: '10.96.1.9', ports: [{ port: '80 PWN' }] }),
  (_h, _r, n) => svc(n, { clusterIP: '10.96.1.10', ports: [{ port: 80, nodePort: 'PWN' }], type: 'NodePort' }),
  // A list entry that is no address only drops that entry (kube-proxy's MapIPsByIPFamily); a string for the list is invalid.
  (h, _r, n) => svc(n, { clusterIP: '10.96.1.11', ports: [{ port: 80 }], externalIPs: h }),
  (h, _r, n) => svc(n, { clusterIP: '10.96.1.12', ports: [{ port: 80 }] }, { namespace: h }),
  (_h, _r, n) => svc(`${n}-other`, { clusterIP: '10.96.1.13', ports: [{ port: 80 }] }), // key/name mismatch
  (_h, _r, n) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: n, namespace: 'fuzz' }, spec: { containers: [] } }),
  () => null,
  () => ['PWN'],
  () => 'PWN',
];

const ENDPOINT_MAKERS: Maker[] = [
  (h, _r, n) => eps(n, [{ addresses: [{ ip: h }], ports: [{ port: 80 }] }]),
  (h, _r, n) => eps(n, [{ addresses: [{ ip: '10.244.9.9' }], ports: [{ port: 80, name: h }] }]),
  (h, _r, n) => eps(n, [{ addresses: [{ ip: '10.244.9.9' }], ports: [{ port: 80, protocol: h }] }]),
  (_h, r, n) => eps(n, [{ addresses: [{ ip: '10.244.9.9' }], ports: [{ port: 70_000 + Math.floor(r() * 1e6) }] }]),
  (_h, _r, n) => eps(n, [{ addresses: [{ ip: '10.244.9.9' }], ports: [{ port: 'PWN' }] }]),
  (_h, _r, n) => eps(n, [{ addresses: '10.244.9.9 PWN', ports: [{ port: 80 }] }]),
  (_h, _r, n) => eps(n, { PWN: true }),
  (_h, _r, n) => eps(n, [{ addresses: [{ ip: '10.244.9.300' }], ports: [{ port: 80 }] }]),
  (h) => eps(h, [{ addresses: [{ ip: '10.244.9.9' }], ports: [{ port: 80 }] }]),
  (_h, r, n) => eps(n, [{ addresses: [{ ip: `10.244.${Math.floor(r() * 255)}.1`, nodeName: 42 }], ports: [{ port: 80 }] }]),
];

function garbage(r: () => number): Buffer {
  const len = 1 + Math.floor(r() * 512);
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
  b[0] = 0xff; // never valid JSON
  return b;
}

export function fuzzObjects(count: number, seed = 10): FuzzEntry[] {
  const r = rng(seed);
  const out: FuzzEntry[] = [];
  for (let index = 0; index < count; index++) {
    const kind = index % 2 === 0 ? 'Service' : 'Endpoints';
    const name = `bad${index}x`;
    const dir = kind === 'Service' ? 'services/specs' : 'services/endpoints';
    const path = `${dir}/fuzz/${name}`;
    const h = HOSTILE[Math.floor(r() * HOSTILE.length)] ?? 'PWN';
    const pick = r();
    let value: Buffer;
    if (pick < 0.1) value = garbage(r);
    else if (pick < 0.13) value = Buffer.concat([Buffer.from('k8s\0'), garbage(r)]);
    else if (pick < 0.16)
      value = Buffer.from(`{"metadata": {"name": "${name}"`); // truncated JSON
    else {
      const makers = kind === 'Service' ? SERVICE_MAKERS : ENDPOINT_MAKERS;
      const make = makers[Math.floor(r() * makers.length)] ?? makers[0]!;
      value = Buffer.from(JSON.stringify(make(h, r, name)));
    }
    out.push({ path, value, kind, index });
  }
  return out;
}
