import { describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../api/cluster-state.js';
import { makeEndpoints, makePod, makeService, snapshotOf } from '../api/testing/object-builders.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import { SnapshotReplica, snapshotDelta } from './snapshot-delta.js';

const keys = (services: string[] = [], endpoints: string[] = [], pods: string[] = [], full = false): ChangedKeys => ({
  services: new Set(services),
  endpoints: new Set(endpoints),
  pods: new Set(pods),
  full,
});

/** What a worker thread receives: the delta after a structured clone. */
const cloned = <T>(v: T): T => structuredClone(v);

function expectSame(replica: ClusterSnapshot, source: ClusterSnapshot): void {
  expect(replica.revision).toBe(source.revision);
  expect([...replica.services]).toEqual([...source.services]);
  expect([...replica.endpoints]).toEqual([...source.endpoints]);
  expect([...replica.pods]).toEqual([...source.pods]);
  expect(replica.endpointSlices && [...replica.endpointSlices]).toEqual(source.endpointSlices && [...source.endpointSlices]);
}

describe('snapshotDelta / SnapshotReplica', () => {
  const web = makeService('default', 'web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] });
  const db = makeService('default', 'db', { clusterIP: '10.96.0.11', ports: [{ port: 5432 }] });
  const webEps = makeEndpoints('default', 'web', [{ ip: '10.244.1.5' }], [{ port: 80 }]);
  const pod = makePod('default', 'p1', '10.244.1.5');

  it('carries only the changed objects after the first, full delivery, and the replica equals the source each time', () => {
    const replica = new SnapshotReplica();
    const first = snapshotOf([web, db], [webEps], 5, [pod]);
    const d1 = snapshotDelta(first, keys([], [], [], true), undefined);
    expect(d1.full).toBe(true);
    const r1 = replica.apply(cloned(d1));
    expectSame(r1.snap, first);
    expect(r1.changed.full).toBe(true);

    const web2 = makeService('default', 'web', { clusterIP: '10.96.0.10', ports: [{ port: 8080 }] });
    const second = snapshotOf([web2], [], 6, [pod]);
    const d2 = snapshotDelta(second, keys(['default/web', 'default/db'], ['default/web'], []), false);
    expect(d2.full).toBe(false);
    expect(d2.services).toEqual([
      ['default/web', web2],
      ['default/db', undefined],
    ]);
    expect(d2.pods).toEqual([]);
    const r2 = replica.apply(cloned(d2));
    expectSame(r2.snap, second);
    expect(r2.changed).toEqual(keys(['default/web', 'default/db'], ['default/web'], []));
  });

  it('sends everything again when the endpoint source switches to EndpointSlices, and follows slice changes by service key', () => {
    const replica = new SnapshotReplica();
    const plain = snapshotOf([web], [webEps], 1);
    replica.apply(cloned(snapshotDelta(plain, keys([], [], [], true), undefined)));
    const sliced: ClusterSnapshot = { ...snapshotOf([web], [], 2), endpointSlices: new Map([['default/web', []]]) };
    const d = snapshotDelta(sliced, keys([], ['default/web']), false);
    expect(d.full).toBe(true);
    expectSame(replica.apply(cloned(d)).snap, sliced);
    const gone: ClusterSnapshot = { ...snapshotOf([web], [], 3), endpointSlices: new Map() };
    const r = replica.apply(cloned(snapshotDelta(gone, keys([], ['default/web']), true)));
    expectSame(r.snap, gone);
    expect(r.changed.endpoints).toEqual(new Set(['default/web']));
  });
});
