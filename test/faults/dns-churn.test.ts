/**
 * DNS under churn: 30,000 queries at 1,000/s from inside the node namespace
 * (test/faults/dns-load.ts) to the agent's DNS on <nodeIp>:53, while the
 * test creates and deletes services, moves ClusterIPs (delete + recreate)
 * and changes headless endpoints in etcd. Every write moves an independent
 * model of the zone to a new state; an answer is right when it equals the
 * model's answer at some instant in [sent − TTL, received], a state counting
 * from when its write was issued until the next write completed.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectKey, validateObject, type ApiObject } from '../../src/api/object.js';
import { EtcdServer } from '../../src/store/etcd-server.js';
import type { KvStore } from '../../src/store/kv-store.js';
import { encodeForStorage } from '../../src/store/object-store.js';
import { now, type LoadPlan, type LoadResult, type Question, type QueryType } from './dns-load.js';
import { FaultLab, recordResult, until } from './fault-lab.js';
import { connectStore } from '../support/etcd.js';

const QUERIES = 30_000;
const RATE = 1_000;
const TIMEOUT_MS = 2_000;
const CHURN_PAUSE_MS = 100;
const NS = 'default';
const ZONE = 'cluster.local';
const LOAD_SCRIPT = fileURLToPath(new URL('../../dist-dev/test/faults/dns-load.js', import.meta.url));

class ChurnLab extends FaultLab {
  override readonly ns = `kfc${randomBytes(3).toString('hex')}-n`;
}

const prefix = `/kfdns${randomBytes(3).toString('hex')}`;
const etcd = new EtcdServer({ unixSocket: true });
const lab = new ChurnLab(88);
let kv: KvStore;

const base = (svc: string): string => `${svc}.${NS}.svc.${ZONE}`;
const reverse = (ip: string): string => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
const pick = <T>(list: readonly T[]): T => list[randomInt(list.length)] as T;

const STABLE = ['st0', 'st1', 'st2', 'st3'];
const CHURNED = ['ch0', 'ch1', 'ch2', 'ch3', 'ch4', 'ch5', 'ch6', 'ch7'];
const HEADLESS = ['hl0', 'hl1', 'hl2', 'hl3'];
const NXDOMAIN = ['nx0', 'nx1', 'nx2', 'nx3', 'nx4'];
const stableIp = (i: number): string => `10.96.88.${10 + i}`;
/** Each churned service moves among its own five ClusterIPs. */
const churnPool = (i: number): string[] => [0, 1, 2, 3, 4].map((k) => `10.96.88.${100 + 10 * i + k}`);
/** Each headless service's endpoints come from its own six pod IPs. */
const podPool = (i: number): string[] => [0, 1, 2, 3, 4, 5].map((k) => `10.244.88.${10 * i + 1 + k}`);

/** What is in etcd, in the terms DNS cares about. */
interface Model {
  clusterIPs: ReadonlyMap<string, string>;
  headless: ReadonlyMap<string, { ready: readonly string[]; notReady: readonly string[] }>;
}

/** The records keel must serve for a model, by the Kubernetes DNS spec: owner name → type → record data. */
type Zone = Map<string, Map<QueryType, string[]>>;

function zoneOf(m: Model): Zone {
  const zone: Zone = new Map();
  const add = (name: string, type?: QueryType, data?: string): void => {
    const node = zone.get(name) ?? new Map<QueryType, string[]>();
    zone.set(name, node);
    if (type && data !== undefined) node.set(type, [...(node.get(type) ?? []), data]);
  };
  for (const [svc, ip] of m.clusterIPs) {
    add(base(svc), 'A', ip);
    add(`_http._tcp.${base(svc)}`, 'SRV', `0 100 80 ${base(svc)}`);
    add(reverse(ip), 'PTR', base(svc));
  }
  for (const [svc, { ready }] of m.headless) {
    add(base(svc));
    for (const ip of ready) {
      const host = `${ip.replaceAll('.', '-')}.${base(svc)}`;
      add(base(svc), 'A', ip);
      add(host, 'A', ip);
      add(reverse(ip), 'PTR', host);
      add(`_http._tcp.${base(svc)}`, 'SRV', `0 ${Math.floor(100 / ready.length)} 8080 ${host}`);
    }
  }
  return zone;
}

function expected(zone: Zone, q: Question): string {
  const node = zone.get(q.name);
  return node ? answerText('NOERROR', node.get(q.type) ?? []) : answerText('NXDOMAIN', []);
}

function answerText(rcode: string, data: readonly string[]): string {
  return `${rcode} ${[...data].sort().join(',')}`;
}

/** A state of etcd: from when the write making it was issued until the next write completed. */
interface State {
  issuedAt: number;
  doneAt: number;
  zone: Zone;
}

const states: State[] = [];
let model: Model = { clusterIPs: new Map(), headless: new Map() };
const changes = { created: 0, deleted: 0, moved: 0, endpoints: 0, writes: 0 };

function serviceObject(name: string, clusterIP: string): ApiObject {
  return validateObject({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS },
    spec: { clusterIP, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  });
}

function endpointsObject(name: string, ready: readonly string[], notReady: readonly string[]): ApiObject {
  return validateObject({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: NS },
    subsets: [
      { addresses: ready.map((ip) => ({ ip })), notReadyAddresses: notReady.map((ip) => ({ ip })), ports: [{ name: 'http', port: 8080 }] },
    ],
  });
}

/** One etcd write (a put, or with no object a delete of the service), and the model state it leads to. */
async function write(name: string, obj: ApiObject | undefined, next: Model): Promise<void> {
  const issuedAt = now();
  if (obj) await kv.put(objectKey(prefix, obj.kind, NS, name), encodeForStorage(obj));
  else await kv.delete(objectKey(prefix, 'Service', NS, name));
  states.push({ issuedAt, doneAt: now(), zone: zoneOf(next) });
  model = next;
  changes.writes++;
}

const withClusterIP = (svc: string, ip: string | undefined): Model => {
  const clusterIPs = new Map(model.clusterIPs);
  if (ip === undefined) clusterIPs.delete(svc);
  else clusterIPs.set(svc, ip);
  return { ...model, clusterIPs };
};

function randomEndpoints(i: number): { ready: string[]; notReady: string[] } {
  const pool = podPool(i).sort(() => Math.random() - 0.5);
  const ready = pool.splice(0, 1 + randomInt(4));
  return { ready, notReady: pool.splice(0, randomInt(3)) };
}

/** Changes one thing at a time until told to stop; every write awaited, so states form one timeline. */
async function churn(stop: () => boolean): Promise<void> {
  for (let n = 0; n < 1_000 && !stop(); n++) {
    const i = randomInt(CHURNED.length);
    const svc = CHURNED[i] as string;
    const current = model.clusterIPs.get(svc);
    const op = randomInt(10);
    if (op < 4) {
      if (current === undefined) {
        const ip = pick(churnPool(i));
        await write(svc, serviceObject(svc, ip), withClusterIP(svc, ip));
        changes.created++;
      } else {
        await write(svc, undefined, withClusterIP(svc, undefined));
        changes.deleted++;
      }
    } else if (op < 6 && current !== undefined) {
      const ip = pick(churnPool(i).filter((a) => a !== current));
      await write(svc, undefined, withClusterIP(svc, undefined));
      await write(svc, serviceObject(svc, ip), withClusterIP(svc, ip));
      changes.moved++;
    } else {
      const h = randomInt(HEADLESS.length);
      const name = HEADLESS[h] as string;
      const eps = randomEndpoints(h);
      await write(name, endpointsObject(name, eps.ready, eps.notReady), { ...model, headless: new Map(model.headless).set(name, eps) });
      changes.endpoints++;
    }
    await new Promise((r) => setTimeout(r, CHURN_PAUSE_MS));
  }
}

function questions(): { all: Question[]; plan: () => number[] } {
  const all: Question[] = [];
  const group = (qs: Question[]): number[] => qs.map((q) => all.push(q) - 1);
  const names = [...STABLE, ...CHURNED, ...HEADLESS];
  const ptrIps = [
    ...STABLE.map((_, i) => stableIp(i)),
    ...CHURNED.flatMap((_, i) => churnPool(i)),
    ...HEADLESS.flatMap((_, i) => podPool(i)),
    '10.96.88.250',
    '10.244.88.250',
  ];
  // Shares of the mix, in percent.
  const mix: [number, number[]][] = [
    [15, group(STABLE.map((s) => ({ name: base(s), type: 'A' })))],
    [25, group(CHURNED.map((s) => ({ name: base(s), type: 'A' })))],
    [15, group(HEADLESS.map((s) => ({ name: base(s), type: 'A' })))],
    [15, group(names.map((s) => ({ name: `_http._tcp.${base(s)}`, type: 'SRV' })))],
    [20, group(ptrIps.map((ip) => ({ name: reverse(ip), type: 'PTR' })))],
    [10, group(NXDOMAIN.map((s) => ({ name: base(s), type: 'A' })))],
  ];
  const plan = (): number[] =>
    Array.from({ length: QUERIES }, () => {
      let roll = randomInt(100);
      for (const [share, ids] of mix) {
        if (roll < share) return pick(ids);
        roll -= share;
      }
      throw new RangeError('mix shares must add up to 100');
    });
  return { all, plan };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

beforeAll(async () => {
  await etcd.start();
  kv = connectStore(etcd.socketEndpoint);
  STABLE.forEach((s, i) => {
    model = withClusterIP(s, stableIp(i));
  });
  CHURNED.forEach((s, i) => {
    if (i % 2 === 0) model = withClusterIP(s, pick(churnPool(i)));
  });
  model = { ...model, headless: new Map(HEADLESS.map((s, i) => [s, randomEndpoints(i)])) };
  for (const [svc, ip] of model.clusterIPs) await kv.put(objectKey(prefix, 'Service', NS, svc), encodeForStorage(serviceObject(svc, ip)));
  for (const [svc, eps] of model.headless) {
    await kv.put(objectKey(prefix, 'Service', NS, svc), encodeForStorage(serviceObject(svc, 'None')));
    await kv.put(objectKey(prefix, 'Endpoints', NS, svc), encodeForStorage(endpointsObject(svc, eps.ready, eps.notReady)));
  }
  states.push({ issuedAt: -Infinity, doneAt: -Infinity, zone: zoneOf(model) });
  await lab.setUp();
});

afterAll(async () => {
  await lab.tearDown();
  kv?.close();
  await etcd.stop();
});

describe('DNS under service churn', () => {
  it('answers 1,000 queries/s for 30 s with no wrong answer and no crash', async () => {
    const agent = lab.startAgent({ KEEL_ETCD_ENDPOINTS: etcd.socketEndpoint, KEEL_ETCD_PREFIX: prefix });
    await until('/readyz', async () => (await lab.http('/readyz')).code === '200');
    await until(
      'DNS answering',
      async () =>
        String((await lab.run(['dig', '+short', '+time=1', '+tries=1', `@${lab.nodeIp}`, base('st0')])).stdout).trim() === stableIp(0),
    );

    const { all, plan } = questions();
    const loadPlan: LoadPlan = {
      server: lab.nodeIp,
      port: 53,
      ratePerSecond: RATE,
      timeoutMs: TIMEOUT_MS,
      questions: all,
      sequence: plan(),
    };
    const planFile = join(lab.dir, 'dns-plan.json');
    const outFile = join(lab.dir, 'dns-results.json');
    writeFileSync(planFile, JSON.stringify(loadPlan));
    let loadDone = false;
    const loadStart = now();
    const load = execa('ip', ['netns', 'exec', lab.ns, 'node', LOAD_SCRIPT, planFile, outFile], { reject: false, timeout: 90_000 }).finally(
      () => {
        loadDone = true;
      },
    );
    const churning = churn(() => loadDone);
    const loadRun = await load;
    await churning;
    expect(loadRun.exitCode, String(loadRun.stderr)).toBe(0);
    const { records, strays } = JSON.parse(readFileSync(outFile, 'utf8')) as LoadResult;

    const ttls = new Set(records.flatMap((r) => r.ttls ?? []));
    expect([...ttls]).toHaveLength(1);
    const ttlMs = [...ttls][0]! * 1000;

    // Each state's end: the next write's completion; memoized expected answers per (state, question).
    const ends = states.map((_, k) => states[k + 1]?.doneAt ?? Infinity);
    const memo = new Map<number, string>();
    const expectedAt = (k: number, question: number): string => {
      const key = k * all.length + question;
      let text = memo.get(key);
      if (text === undefined) memo.set(key, (text = expected(states[k]!.zone, all[question]!)));
      return text;
    };
    const matching = (from: number, to: number, question: number, got: string): number[] =>
      states.flatMap((s, k) => (s.issuedAt <= to && ends[k]! >= from && expectedAt(k, question) === got ? [k] : []));

    let wrong = 0;
    let timeouts = 0;
    let servfails = 0;
    let stale = 0;
    let changed = 0;
    let maxStaleMs = 0;
    const examples: string[] = [];
    const latencies: number[] = [];
    for (const r of records) {
      const q = all[r.question]!;
      if (r.receivedAt === undefined || r.receivedAt - r.sentAt > TIMEOUT_MS) {
        timeouts++;
        continue;
      }
      latencies.push(r.receivedAt - r.sentAt);
      if (r.rcode === 'SERVFAIL') {
        servfails++;
        continue;
      }
      const got = answerText(r.rcode ?? '', r.answers ?? []);
      const ok = r.echoed === `${q.name}/${q.type}` ? matching(r.sentAt - ttlMs, r.receivedAt, r.question, got) : [];
      if (ok.length === 0) {
        wrong++;
        if (examples.length < 5)
          examples.push(
            `${q.type} ${q.name} sent at +${(r.sentAt - loadStart).toFixed(0)} ms: got ${got} (echo ${r.echoed}); at send: ${expected(states[states.findLastIndex((s) => s.issuedAt <= r.sentAt)]!.zone, q)}`,
          );
        continue;
      }
      if (got !== expectedAt(0, r.question)) changed++;
      if (matching(r.sentAt, r.receivedAt, r.question, got).length === 0) {
        stale++;
        maxStaleMs = Math.max(maxStaleMs, r.sentAt - Math.max(...ok.map((k) => ends[k]!)));
      }
    }
    latencies.sort((a, b) => a - b);
    const sendSpan = (records.at(-1)!.sentAt - records[0]!.sentAt) / 1000;
    const answered = records.length - timeouts;
    const overTcp = records.filter((r) => r.retriedOverTcp).length;

    expect(agent.child.exitCode).toBeNull();
    expect((await lab.http('/healthz')).code).toBe('200');
    const handlerErrors = agent
      .log()
      .split('\n')
      .filter((l) => l.includes('query handling failed')).length;
    recordResult('dns under churn', [
      `queries sent: ${records.length} over ${sendSpan.toFixed(1)} s (${(records.length / sendSpan).toFixed(0)} qps), half with EDNS0; answered within ${TIMEOUT_MS} ms: ${answered} (${overTcp} truncated over UDP and asked again over TCP); timeouts: ${timeouts}; SERVFAIL: ${servfails}; stray replies: ${strays}`,
      `mix: A stable 15 %, A churned 25 %, A headless 15 %, SRV 15 %, PTR 20 %, NXDOMAIN 10 % (${all.length} distinct questions)`,
      `changes during the load: ${changes.created} creates, ${changes.deleted} deletes, ${changes.moved} ClusterIP moves (delete + recreate), ${changes.endpoints} headless endpoint changes (${changes.writes} etcd writes)`,
      `wrong answers: ${wrong} (checked against the truth in [sent − TTL, received], TTL ${ttlMs / 1000} s as served); answers differing from the state before the load: ${changed}`,
      `answers right only within the TTL slack (older than the state at send time): ${stale}; oldest by ${maxStaleMs.toFixed(0)} ms after the superseding write completed (printed, not asserted)`,
      `latency p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms (printed, not asserted)`,
      `agent crashes: 0; handler errors logged: ${handlerErrors}`,
    ]);
    expect(examples).toEqual([]);
    expect(wrong).toBe(0);
    expect(servfails).toBe(0);
    expect(records).toHaveLength(QUERIES);
    // Unanswered within 2 s (a thousand times the p99): a server that drops a query class or stalls
    // on reload loses hundreds to thousands; the 30 allowed (0.1 %) are the load generator's own
    // scheduling on a shared 2-core machine. Measured: 0 (results.md).
    expect(timeouts).toBeLessThanOrEqual(QUERIES / 1_000);
    expect(strays).toBe(0);
    expect(handlerErrors).toBe(0);
  }, 150_000);
});
