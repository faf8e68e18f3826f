import { LeaseStore } from '../overlay/lease-store.js';
import { DEFAULT_RUN_DIR, sandboxEtcdConnectionIn } from '../sandbox/sandbox-state.js';
import { ObjectStore } from '../store/object-store.js';
import { createEtcdClient, parseEndpoints, type EtcdConnection } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { UsageError } from '../api/errors.js';
import { DEFAULT_ETCD_ENDPOINT, registryPrefix, type EtcdFlags } from './options.js';
import type { SubnetPrefixFlags } from './subnet-prefix-flags.js';

/**
 * Without --etcd-endpoints: the etcd of the sandbox `keel up` started (its
 * members' Unix sockets in KEEL_RUN_DIR or the default run directory, with
 * its client certificate when it uses TLS), else loopback.
 */
function defaultEtcdConnection(): EtcdConnection {
  return sandboxEtcdConnectionIn(process.env.KEEL_RUN_DIR || DEFAULT_RUN_DIR) ?? { endpoints: [DEFAULT_ETCD_ENDPOINT] };
}

export function etcdConnection(flags: EtcdFlags, callTimeoutMs?: number): EtcdConnection {
  const conn: EtcdConnection = flags.etcdEndpoints ? { endpoints: parseEndpoints(flags.etcdEndpoints) } : defaultEtcdConnection();
  if (flags.etcdCafile) conn.cafile = flags.etcdCafile;
  if (flags.etcdCertfile) conn.certfile = flags.etcdCertfile;
  if (flags.etcdKeyfile) conn.keyfile = flags.etcdKeyfile;
  if (callTimeoutMs) conn.callTimeoutMs = callTimeoutMs;
  return conn;
}

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

/** Runs `fn` with a LeaseStore and always closes the etcd client. */
export async function withLeaseStore<T>(flags: EtcdFlags & SubnetPrefixFlags, fn: (store: LeaseStore) => Promise<T>): Promise<T> {
  const conn = etcdConnection(flags, 4_000);
  const client = createEtcdClient(conn);
  try {
    if (!flags.subnetPrefix.startsWith('/'))
      throw new UsageError(`--subnet-prefix: ${JSON.stringify(flags.subnetPrefix)} must start with "/"`);
    return await fn(new LeaseStore(new KvStore(client, conn.endpoints), flags.subnetPrefix));
  } finally {
    client.close();
  }
}
