/**
 * Informer against the shared real etcd: a large prefix listed in pages
 * and kept equal to etcd under a stream of changes, and invalid values
 * skipped one by one. Every test uses its own key prefix.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Service } from '../../src/api/service.js';
import type { KvStore, TxnOp } from '../../src/store/kv-store.js';
import { decodeStored } from '../../src/store/object-store.js';
import { Informer } from '../../src/watch/informer.js';
import { watchMetrics } from '../../src/watch/watch-metrics.js';
import { connectStore, uniquePrefix } from '../support/etcd.js';
import { captureLogs, serviceJson, waitFor, writeBatched } from './watch-support.js';

const store = connectStore();
const aborts: AbortController[] = [];

afterEach(() => {
  for (const ac of aborts.splice(0)) ac.abort();
});
afterAll(() => store.close());

function serviceInformer(prefix: string, resource: string): Informer<Service> {
  return new Informer<Service>({
    store,
    prefix,
    resource,
    decode: (key, value, modRevision) => decodeStored('Service', { key, value, modRevision }),
  });
}

async function started<T>(informer: Informer<T>): Promise<Informer<T>> {
  const ac = new AbortController();
  aborts.push(ac);
  await informer.start(ac.signal);
  return informer;
}

/** etcd's content under the prefix, decoded the same way, keyed by etcd key. */
async function etcdContent(kv: KvStore, prefix: string): Promise<Map<string, Service>> {
  const { entries } = await kv.list(prefix);
  return new Map(entries.map((e) => [e.key, decodeStored('Service', e)]));
}

describe('Informer', () => {
  it('lists 10,000 services in pages and stays equal to etcd through 10,000 changes', async () => {
    const base = uniquePrefix('watch-10k');
    const prefix = `${base}/services/specs/`;
    const key = (i: number): string => `${prefix}ns${i % 20}/svc-${i}`;
    const parse = (i: number): [string, string] => [`ns${i % 20}`, `svc-${i}`];
    await writeBatched(
      store,
      Array.from({ length: 10_000 }, (_, i) => ({ put: key(i), value: serviceJson(...parse(i)) })),
    );

    const informer = await started(serviceInformer(prefix, 'test-10k'));
    expect(informer.hasSynced()).toBe(true);
    expect(informer.items().size).toBe(10_000);

    const kinds = { add: 0, update: 0, delete: 0 };
    informer.subscribe((ev) => {
      kinds[ev.type]++;
    });
    // 4,000 updates, 3,000 deletes, 3,000 creates: 10,000 changes on distinct keys.
    const ops = [
      ...Array.from({ length: 10_000 }, (_, i) => i)
        .filter((i) => i % 10 < 4)
        .map((i): TxnOp => ({ put: key(i), value: serviceJson(...parse(i), 1000 + i) })),
      ...Array.from({ length: 10_000 }, (_, i) => i)
        .filter((i) => i % 10 >= 7)
        .map((i): TxnOp => ({ delete: key(i) })),
      ...Array.from({ length: 3_000 }, (_, j) => 10_000 + j).map((i): TxnOp => ({ put: key(i), value: serviceJson(...parse(i)) })),
    ];
    expect(ops.length).toBe(10_000);
    const last = await writeBatched(store, ops);

    await waitFor('informer to reach the last write', () => informer.revision() >= last);
    expect(kinds).toEqual({ add: 3_000, update: 4_000, delete: 3_000 });
    const counted = (await watchMetrics.events.get()).values.filter((v) => v.labels.resource === 'test-10k');
    expect(Object.fromEntries(counted.map((v) => [v.labels.type, v.value]))).toEqual({ add: 13_000, update: 4_000, delete: 3_000 });
    const synced = (await watchMetrics.lastSyncRevision.get()).values.find((v) => v.labels.resource === 'test-10k');
    expect(synced?.value).toBe(informer.revision());
    const expected = await etcdContent(store, prefix);
    expect(expected.size).toBe(10_000);
    expect(informer.items().size).toBe(expected.size);
    for (const [k, svc] of expected) expect(informer.items().get(k), k).toEqual(svc);
    expect(informer.isConnected()).toBe(true);
  });

  it('skips garbage and half-valid values with a logged reason, leaving valid neighbours alone', async () => {
    const logs = captureLogs();
    try {
      const prefix = `${uniquePrefix('watch-garbage')}/services/specs/`;
      const good = (name: string): TxnOp => ({ put: `${prefix}default/${name}`, value: serviceJson('default', name) });
      const bad = {
        garbage: Buffer.from([0xff, 0xfe, 0x00, 0x13, 0x37]),
        badport: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { namespace: 'default', name: 'badport' },
          spec: { ports: [{ port: 70_000 }] },
        }),
        mismatch: serviceJson('default', 'someone-else'),
        proto: Buffer.concat([Buffer.from('k8s\0'), Buffer.from([1, 2, 3])]),
      };
      await writeBatched(store, [
        good('a'),
        good('b'),
        ...Object.entries(bad).map(([n, v]): TxnOp => ({ put: `${prefix}default/${n}`, value: v })),
      ]);
      const informer = await started(serviceInformer(prefix, 'test-garbage'));
      expect([...informer.items().keys()].sort()).toEqual([`${prefix}default/a`, `${prefix}default/b`]);

      // Through the watch: another bad value, a valid one, and a valid object turning bad and back.
      const events: string[] = [];
      informer.subscribe((ev) => events.push(`${ev.type} ${ev.key.slice(prefix.length)}`));
      await store.txn([], [{ put: `${prefix}default/c`, value: serviceJson('default', 'c') }]);
      await store.txn(
        [],
        [
          {
            put: `${prefix}default/half`,
            value: '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"default","name":"half"},"spec":{"type":"Bogus"}}',
          },
        ],
      );
      const r = await store.txn([], [{ put: `${prefix}default/b`, value: '{"truncated": ' }]);
      await waitFor('bad b to be seen', () => informer.revision() >= r.revision);
      expect(informer.items().has(`${prefix}default/b`)).toBe(false);
      const r2 = await store.txn([], [{ put: `${prefix}default/b`, value: serviceJson('default', 'b', 81) }]);
      await waitFor('fixed b to be seen', () => informer.revision() >= r2.revision);

      expect(events).toEqual(['add default/c', 'delete default/b', 'add default/b']);
      expect([...informer.items().keys()].sort()).toEqual(['a', 'b', 'c'].map((n) => `${prefix}default/${n}`));
      expect(informer.items().get(`${prefix}default/b`)?.spec.ports[0]?.port).toBe(81);

      const warned = logs.lines.filter((l) => l.includes('skipping invalid object'));
      for (const name of [...Object.keys(bad), 'half', 'b']) {
        const mine = warned.filter((l) => l.includes(`key=${prefix}default/${name} `));
        expect(mine, name).toHaveLength(1);
      }
      expect(warned.find((l) => l.includes('/badport '))).toMatch(/reason=.*spec\.ports\[0\]\.port/);
      expect(warned.find((l) => l.includes('/mismatch '))).toMatch(/reason=.*does not match its key/);
      expect(warned.find((l) => l.includes('/proto '))).toMatch(/reason=.*protobuf/);
      expect(warned.find((l) => l.includes('/garbage '))).toMatch(/reason=.*not JSON/);
      expect(informer.stats().invalid).toBe(6);
      const metric = (await watchMetrics.invalid.get()).values.find((v) => v.labels.resource === 'test-garbage');
      expect(metric?.value).toBe(6);
    } finally {
      logs.restore();
    }
  });

  it('starts, reports synced only after the first list, and stops on abort', async () => {
    const prefix = `${uniquePrefix('watch-abort')}/services/specs/`;
    const informer = serviceInformer(prefix, 'test-abort');
    expect(informer.hasSynced()).toBe(false);
    const ac = new AbortController();
    await informer.start(ac.signal);
    expect(informer.hasSynced()).toBe(true);
    await waitFor('watch to connect', () => informer.isConnected());
    ac.abort();
    await waitFor('watch to stop', () => !informer.isConnected());
    await expect(informer.start(ac.signal)).rejects.toThrow(/already started/);
  });
});
