/**
 * ClusterWatch against the shared real etcd: Services, Endpoints and
 * Pods under a per-test registry prefix, delivered to a slow consumer as
 * coalesced snapshots that end equal to etcd's content.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../src/api/cluster-state.js';
import type { TxnOp } from '../../src/store/kv-store.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { ClusterWatch, type ChangedKeys } from '../../src/watch/cluster-watch.js';
import { watchMetrics } from '../../src/watch/watch-metrics.js';
import { connectStore, uniquePrefix } from '../support/etcd.js';
import { endpointsJson, podJson, serviceJson, waitFor, writeBatched } from './watch-support.js';

const store = connectStore();
afterAll(() => store.close());

describe('ClusterWatch', () => {
  it('delivers coalesced, joined snapshots to a slow consumer and converges on etcd', async () => {
    const prefix = uniquePrefix('watch-cluster');
    const objects = new ObjectStore(store, prefix);
    const svcKey = (i: number): string => objects.key('Service', 'default', `web-${i}`);
    const epKey = (i: number): string => objects.key('Endpoints', 'default', `web-${i}`);
    const podKey = (i: number): string => objects.key('Pod', 'default', `pod-${i}`);
    await writeBatched(store, [
      ...Array.from({ length: 50 }, (_, i): TxnOp => ({ put: svcKey(i), value: serviceJson('default', `web-${i}`) })),
      ...Array.from({ length: 50 }, (_, i): TxnOp => ({ put: epKey(i), value: endpointsJson('default', `web-${i}`, `10.244.0.${i + 1}`) })),
      ...Array.from({ length: 10 }, (_, i): TxnOp => ({ put: podKey(i), value: podJson('default', `pod-${i}`, `10.244.1.${i + 1}`) })),
      { put: objects.key('Service', 'default', 'junk'), value: 'not json at all' },
    ]);

    const watch = new ClusterWatch({ store, prefix });
    const calls: { snap: ClusterSnapshot; changed: ChangedKeys }[] = [];
    let inFlight = 0;
    let overlapped = false;
    watch.subscribe(async (snap, changed) => {
      overlapped ||= inFlight > 0;
      inFlight++;
      calls.push({ snap, changed });
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
    });
    const ac = new AbortController();
    try {
      await watch.start(ac.signal);
      expect(watch.hasSynced()).toBe(true);
      await waitFor('the first delivery', () => calls.length >= 1);
      const first = calls[0] as (typeof calls)[number];
      expect(first.changed.full).toBe(true);
      expect(first.snap.services.size).toBe(50);
      expect(first.snap.endpoints.get('default/web-7')?.subsets[0]?.addresses?.[0]?.ip).toBe('10.244.0.8');
      expect(first.snap.pods.size).toBe(10);

      // 200 single-revision changes across all three kinds, 8 in flight.
      const burst: TxnOp[] = [
        ...Array.from({ length: 50 }, (_, i): TxnOp => ({ put: svcKey(i), value: serviceJson('default', `web-${i}`, 8000 + i) })),
        ...Array.from({ length: 50 }, (_, i): TxnOp =>
          i < 25 ? { delete: epKey(i) } : { put: epKey(i), value: endpointsJson('default', `web-${i}`, `10.244.2.${i}`) },
        ),
        ...Array.from({ length: 100 }, (_, i): TxnOp => ({
          put: podKey(100 + i),
          value: podJson('default', `pod-${100 + i}`, `10.244.3.${i + 1}`),
        })),
      ];
      const before = calls.length;
      const last = await writeBatched(store, burst, 1, 8);
      await waitFor('a delivery at the last revision', () => (calls.at(-1)?.snap.revision ?? 0) >= last && inFlight === 0);

      const burstCalls = calls.slice(before);
      expect(burstCalls.length).toBeLessThan(burst.length / 2);
      expect(overlapped).toBe(false);
      const union = (k: 'services' | 'endpoints' | 'pods'): Set<string> => new Set(burstCalls.flatMap((c) => [...c.changed[k]]));
      expect(union('services').size).toBe(50);
      expect(union('endpoints').size).toBe(50);
      expect(union('pods').size).toBe(100);
      expect(burstCalls.every((c) => !c.changed.full)).toBe(true);
      const delays = (await watchMetrics.deliveryDelay.get()).values.find(
        (v) => v.metricName === 'keel_watch_delivery_delay_seconds_count',
      );
      expect(delays?.value).toBeGreaterThanOrEqual(burstCalls.length);

      const final = (calls.at(-1) as (typeof calls)[number]).snap;
      const expected = await objects.readSnapshot();
      // A snapshot's maps are read-only views (LayeredMap): compare their entries.
      expect(new Map(final.services)).toEqual(expected.services);
      expect(new Map(final.endpoints)).toEqual(expected.endpoints);
      expect(new Map(final.pods)).toEqual(expected.pods);
      expect(final.endpoints.has('default/web-3')).toBe(false);
      expect(watch.current()).toBe(watch.current());

      // A lone change after a quiet period goes out by itself, naming just its key.
      const n = calls.length;
      const { revision } = await store.txn([], [{ put: svcKey(3), value: serviceJson('default', 'web-3', 443) }]);
      await waitFor('the lone change', () => calls.length > n && inFlight === 0);
      expect(calls.length).toBe(n + 1);
      const lone = calls.at(-1) as (typeof calls)[number];
      expect(lone.snap.revision).toBe(revision);
      expect([...lone.changed.services]).toEqual(['default/web-3']);
      expect(lone.changed.endpoints.size + lone.changed.pods.size).toBe(0);
      expect(lone.snap.services.get('default/web-3')?.metadata.resourceVersion).toBe(String(revision));
      // Kinds that did not change are shared, not copied; earlier snapshots are untouched.
      expect(lone.snap.endpoints).toBe(final.endpoints);
      expect(lone.snap.services).not.toBe(final.services);
      expect(final.services.get('default/web-3')?.spec.ports[0]?.port).toBe(8003);
    } finally {
      ac.abort();
    }
  });
});
