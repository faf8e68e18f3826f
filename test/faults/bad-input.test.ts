/**
 * Bad input: 1,000 hostile Service/Endpoints values written straight to
 * etcd beside three valid services — half before the agent starts (seen by
 * its first list), half while it runs (seen by its watch). The agent keeps
 * running, the valid services' rules are in the kernel and right, no rule
 * carries attacker text, and each bad object is logged once and counted.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateObject } from '../../src/api/object.js';
import { EtcdServer } from '../../src/store/etcd-server.js';
import type { KvStore } from '../../src/store/kv-store.js';
import { decodeStored, encodeForStorage } from '../../src/store/object-store.js';
import { FaultLab, recordResult, until } from './fault-lab.js';
import { fuzzObjects, type FuzzEntry } from './fuzz-objects.js';
import { connectStore } from '../support/etcd.js';

const COUNT = 1_000;
const prefix = `/fuzz${randomBytes(3).toString('hex')}`;
const etcd = new EtcdServer({ unixSocket: true });
const lab = new FaultLab(78);
const bad = fuzzObjects(COUNT);
let kv: KvStore;

const VALID = [1, 2, 3].map((i) => ({
  name: `good${i}`,
  clusterIP: `10.96.0.${60 + i}`,
  endpoint: `10.244.7.${i}`,
}));

async function put(entries: FuzzEntry[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 50) {
    await Promise.all(entries.slice(i, i + 50).map((e) => kv.put(`${prefix}/${e.path}`, e.value)));
  }
}

beforeAll(async () => {
  await etcd.start();
  kv = connectStore(etcd.socketEndpoint);
  for (const v of VALID) {
    const svc = validateObject({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: v.name, namespace: 'default' },
      spec: { clusterIP: v.clusterIP, ports: [{ port: 80, targetPort: 8080 }] },
    });
    const ep = validateObject({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: v.name, namespace: 'default' },
      subsets: [{ addresses: [{ ip: v.endpoint }], ports: [{ port: 8080 }] }],
    });
    await kv.put(`${prefix}/services/specs/default/${v.name}`, encodeForStorage(svc));
    await kv.put(`${prefix}/services/endpoints/default/${v.name}`, encodeForStorage(ep));
  }
  await lab.setUp();
});

afterAll(async () => {
  await lab.tearDown();
  kv?.close();
  await etcd.stop();
});

describe('bad input in etcd', () => {
  it('generates only values the decoder refuses', () => {
    const accepted = bad.filter((e) => {
      try {
        decodeStored(e.kind, { key: `${prefix}/${e.path}`, value: e.value, modRevision: 1 });
        return true;
      } catch {
        return false;
      }
    });
    expect(accepted.map((e) => e.value.toString('utf8').slice(0, 200))).toEqual([]);
  });

  it('keeps the agent running with the valid services programmed and each bad object logged once and counted', async () => {
    await put(bad.slice(0, COUNT / 2));
    const agent = lab.startAgent({ KEEL_ETCD_ENDPOINTS: etcd.socketEndpoint, KEEL_ETCD_PREFIX: prefix });
    await until('/readyz', async () => (await lab.http('/readyz')).code === '200');
    await put(bad.slice(COUNT / 2));
    const invalidSeenMs = await until(
      'all bad objects counted',
      async () => (await lab.metric('keel_watch_invalid_objects_total')) >= COUNT,
    );

    // A change to a valid service after the flood still gets through.
    const ep = validateObject({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'good1', namespace: 'default' },
      subsets: [{ addresses: [{ ip: '10.244.7.101' }], ports: [{ port: 8080 }] }],
    });
    await kv.put(`${prefix}/services/endpoints/default/good1`, encodeForStorage(ep));
    await until('good1 follows its endpoint change', async () => (await lab.natRules()).includes('--to-destination 10.244.7.101:8080'));

    expect(agent.child.exitCode).toBeNull();
    expect((await lab.http('/healthz')).code).toBe('200');
    const rules = await lab.natRules();
    for (const v of VALID) {
      expect(rules).toMatch(
        new RegExp(
          `-A KUBE-SERVICES -d ${v.clusterIP.replaceAll('.', '\\.')}/32 -p tcp -m comment --comment "default/${v.name} cluster IP" -m tcp --dport 80 -j KUBE-SVC-`,
        ),
      );
    }
    expect(rules).toContain('--to-destination 10.244.7.2:8080');
    expect(rules).toContain('--to-destination 10.244.7.3:8080');
    const all = rules + String((await lab.run(['iptables-save', '-t', 'filter'])).stdout);
    const leaks = all.split('\n').filter((l) => /pwn|fuzz/i.test(l));
    expect(leaks).toEqual([]);

    expect(await lab.metric('keel_watch_invalid_objects_total')).toBe(COUNT);
    const lines = agent
      .log()
      .split('\n')
      .filter((l) => l.includes('msg="skipping invalid object"'));
    const perObject = new Map<number, number>();
    for (const l of lines) {
      const m = /bad(\d+)x/.exec(l);
      if (m) perObject.set(Number(m[1]), (perObject.get(Number(m[1])) ?? 0) + 1);
    }
    const missing = bad.filter((e) => perObject.get(e.index) !== 1).map((e) => e.path);
    expect(missing).toEqual([]);
    expect(lines.length).toBe(COUNT);
    const withReason = lines.filter((l) => /reason=/.test(l)).length;
    expect(withReason).toBe(COUNT);

    recordResult('bad input', [
      `hostile values written: ${COUNT} (${COUNT / 2} before the agent's first list, ${COUNT / 2} through its watch)`,
      `logged once each: ${perObject.size}/${COUNT}; keel_watch_invalid_objects_total: ${COUNT}`,
      `agent crashes: 0; valid services programmed: ${VALID.length}/${VALID.length}; rule lines with attacker text: ${leaks.length}`,
      `time from the last write until all were counted: ${invalidSeenMs} ms (printed, not asserted)`,
    ]);
  });
});
