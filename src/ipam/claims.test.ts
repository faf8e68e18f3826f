import { describe, expect, it } from 'vitest';
import { validateService } from '../api/service.js';
import type { KvStore } from '../store/kv-store.js';
import { ClaimBook, claimChanges, takenFrom, type Claim } from './claims.js';

// Key building and the transaction parts are pure; the book's etcd is never touched here
// (src/registry/object-registry.test.ts races the whole path against a real etcd).
const book = new ClaimBook({} as KvStore, '/r');
const claim = (key: string, owner: string, modRevision: number): Claim => ({ key, owner, modRevision });
const ipClaim = (ip: string, owner: string, rev: number): [string, Claim] => [ip, claim(book.ipKey(ip), owner, rev)];
const portClaim = (port: number, owner: string, rev: number): [number, Claim] => [port, claim(book.portKey(port), owner, rev)];

describe('ClaimBook keys', () => {
  it('puts one claim per ClusterIP and per NodePort under the prefix', () => {
    expect(book.ipKey('10.96.0.1')).toBe('/r/keel/ipam/clusterips/10.96.0.1');
    expect(book.portKey(30080)).toBe('/r/keel/ipam/nodeports/30080');
  });
});

describe('takenFrom', () => {
  it('counts claims by their owner, and addresses of services written without claims', () => {
    const claims = { ips: new Map([ipClaim('10.96.0.1', 'a/one', 5)]), ports: new Map([portClaim(30001, 'a/one', 5)]) };
    const services = [
      validateService({
        metadata: { namespace: 'b', name: 'two' },
        spec: { type: 'NodePort', clusterIP: '10.96.0.2', ports: [{ port: 80, nodePort: 30002 }] },
      }),
      // A service listing an address someone else claimed: the claim says who holds it.
      validateService({
        metadata: { namespace: 'c', name: 'three' },
        spec: { type: 'NodePort', clusterIP: '10.96.0.1', ports: [{ port: 80, nodePort: 30001 }] },
      }),
      validateService({ metadata: { namespace: 'd', name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } }),
      validateService({ metadata: { namespace: 'e', name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.com' } }),
      // Its healthCheckNodePort is a node port like the others, and its claimed NodePort keeps its claim's owner.
      validateService({
        metadata: { namespace: 'f', name: 'local' },
        spec: {
          type: 'LoadBalancer',
          externalTrafficPolicy: 'Local',
          clusterIP: '10.96.0.3',
          healthCheckNodePort: 30003,
          ports: [{ port: 80, nodePort: 30001 }],
        },
      }),
    ];
    const taken = takenFrom(claims, services);
    expect([...taken.ips]).toEqual([
      ['10.96.0.1', 'a/one'],
      ['10.96.0.2', 'b/two'],
      ['10.96.0.3', 'f/local'],
    ]);
    expect([...taken.nodePorts]).toEqual([
      [30001, 'a/one'],
      [30002, 'b/two'],
      [30003, 'f/local'],
    ]);
  });
});

describe('claimChanges', () => {
  it('claims a new address only if it is still absent, and touches nothing the owner already holds', () => {
    const claims = { ips: new Map([ipClaim('10.96.0.1', 'a/web', 7)]), ports: new Map<number, Claim>() };
    expect(claimChanges(book, claims, 'a/web', ['10.96.0.1'], [30080])).toEqual({
      conditions: [{ key: '/r/keel/ipam/nodeports/30080', modRevision: 0 }],
      ops: [{ put: '/r/keel/ipam/nodeports/30080', value: 'a/web' }],
    });
  });

  it('takes over a claim held by another owner only at the revision it was read', () => {
    const claims = { ips: new Map([ipClaim('10.96.0.9', 'gone/svc', 12)]), ports: new Map<number, Claim>() };
    expect(claimChanges(book, claims, 'a/web', ['10.96.0.9'], [])).toEqual({
      conditions: [{ key: '/r/keel/ipam/clusterips/10.96.0.9', modRevision: 12 }],
      ops: [{ put: '/r/keel/ipam/clusterips/10.96.0.9', value: 'a/web' }],
    });
  });

  it("releases what the owner holds and no longer wants, at the revision read, and never others' claims", () => {
    const claims = {
      ips: new Map([ipClaim('10.96.0.1', 'a/web', 3), ipClaim('10.96.0.2', 'b/db', 4)]),
      ports: new Map([portClaim(30001, 'a/web', 5), portClaim(30002, 'a/web', 6), portClaim(30003, 'b/db', 7)]),
    };
    expect(claimChanges(book, claims, 'a/web', [], [30002])).toEqual({
      conditions: [
        { key: '/r/keel/ipam/clusterips/10.96.0.1', modRevision: 3 },
        { key: '/r/keel/ipam/nodeports/30001', modRevision: 5 },
      ],
      ops: [{ delete: '/r/keel/ipam/clusterips/10.96.0.1' }, { delete: '/r/keel/ipam/nodeports/30001' }],
    });
  });
});
