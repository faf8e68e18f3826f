import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createEtcdClient } from '../../src/store/etcd-client.js';
import { KvStore } from '../../src/store/kv-store.js';

/** The shared test etcd's endpoint. */
export function etcdEndpoint(): string {
  return inject('etcdEndpoint');
}

/** A unique key prefix so test files never see each other's objects. */
export function uniquePrefix(name: string): string {
  return `/test-${name}-${randomBytes(4).toString('hex')}`;
}

export function connectStore(endpoint = etcdEndpoint()): KvStore {
  return new KvStore(createEtcdClient({ endpoints: [endpoint] }), [endpoint]);
}
