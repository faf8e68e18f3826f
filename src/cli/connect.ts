import { ObjectStore } from '../store/object-store.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { etcdConnection, registryPrefix, type EtcdFlags } from './options.js';

/**
 * Opens the object store a command works on and always closes the client,
 * so a finished command exits instead of idling on an open gRPC channel.
 */
export async function withObjectStore<T>(flags: EtcdFlags, fn: (objects: ObjectStore) => Promise<T>): Promise<T> {
  const conn = etcdConnection(flags, 4_000);
  const client = createEtcdClient(conn);
  try {
    return await fn(new ObjectStore(new KvStore(client, conn.endpoints), registryPrefix(flags)));
  } finally {
    client.close();
  }
}
