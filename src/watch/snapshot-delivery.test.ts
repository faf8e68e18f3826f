import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { emptySnapshot, type ClusterSnapshot } from '../api/cluster-state.js';
import type { Service } from '../api/service.js';
import { createLogger } from '../observe/log.js';
import { SnapshotDelivery, type ChangedKeys } from './snapshot-delivery.js';
import { Gate } from '../runtime/testing/gate.js';

function svc(name: string, port: number, resourceVersion = '1'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'default', name, resourceVersion },
    spec: { type: 'ClusterIP', ports: [{ protocol: 'TCP', port, targetPort: port }], sessionAffinity: 'None' },
  };
}

interface Harness {
  delivery: SnapshotDelivery;
  calls: { revision: number; changed: ChangedKeys }[];
  source: { synced: boolean; revision: number };
  /** Makes the next consumer call wait until the returned function is called. */
  block(): () => void;
  failNext(): void;
}

function harness(minDelayMs = 0, synced = true): Harness {
  const calls: Harness['calls'] = [];
  const source = { synced, revision: 1 };
  const gate = new Gate();
  let fail = false;
  const delivery = new SnapshotDelivery(
    async (snap, changed) => {
      calls.push({ revision: snap.revision, changed });
      if (gate.closed) await gate.closed;
      if (fail) {
        fail = false;
        throw new Error('consumer broke');
      }
    },
    {
      current: (): ClusterSnapshot => ({ ...emptySnapshot(), revision: source.revision }),
      hasSynced: () => source.synced,
    },
    minDelayMs,
    createLogger('test'),
  );
  void delivery.start(new AbortController().signal);
  return {
    delivery,
    calls,
    source,
    block: () => gate.block(),
    failNext: () => {
      fail = true;
    },
  };
}

const keys = (c: ChangedKeys): string[] => [...c.services].sort();

describe('SnapshotDelivery', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits for sync, then delivers a full snapshot first', async () => {
    const h = harness(0, false);
    h.delivery.record('services', 'default/a', undefined, svc('a', 80));
    await vi.advanceTimersByTimeAsync(10);
    expect(h.calls).toHaveLength(0);
    h.source.synced = true;
    h.delivery.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls).toHaveLength(1);
    expect(h.calls[0]?.changed.full).toBe(true);
  });

  it('coalesces changes made while the consumer is busy into one call', async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    const release = h.block();
    h.delivery.record('services', 'default/a', undefined, svc('a', 80));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls).toHaveLength(2);
    for (const name of ['b', 'c', 'd']) h.delivery.record('services', `default/${name}`, undefined, svc(name, 80));
    h.delivery.record('endpoints', 'default/b', undefined, undefined);
    await vi.advanceTimersByTimeAsync(100);
    expect(h.calls).toHaveLength(2);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls).toHaveLength(3);
    expect(keys(h.calls[2]!.changed)).toEqual(['default/b', 'default/c', 'default/d']);
    expect(h.calls[2]?.changed.full).toBe(false);
  });

  it('skips changes that cancel out or only bump resourceVersion', async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    h.delivery.record('services', 'default/a', svc('a', 80, '5'), svc('a', 80, '9'));
    h.delivery.record('services', 'default/b', undefined, svc('b', 80));
    h.delivery.record('services', 'default/b', svc('b', 80), undefined);
    await vi.advanceTimersByTimeAsync(10);
    expect(h.calls).toHaveLength(1);
  });

  it('keeps minDelayMs between the starts of two calls', async () => {
    const h = harness(1_000);
    await vi.advanceTimersByTimeAsync(0);
    h.delivery.record('services', 'default/a', undefined, svc('a', 80));
    await vi.advanceTimersByTimeAsync(999);
    expect(h.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.calls).toHaveLength(2);
  });

  it('follows a failed call with a full one after a backoff', async () => {
    const h = harness();
    h.failNext();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(h.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.calls).toHaveLength(2);
    expect(h.calls[1]?.changed.full).toBe(true);
  });

  it('a full mark (relist) makes the next call full', async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    h.delivery.markFull();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls.map((c) => c.changed.full)).toEqual([true, true]);
    h.delivery.close();
    h.delivery.markFull();
    await vi.advanceTimersByTimeAsync(10);
    expect(h.calls).toHaveLength(2);
  });
});
