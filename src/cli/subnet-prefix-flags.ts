import type { Command } from 'commander';
import { UsageError } from '../api/errors.js';
import { DEFAULT_SUBNET_PREFIX, LeaseStore } from '../overlay/lease-store.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { KvStore } from '../store/kv-store.js';
import { etcdConnection, keelOption, type EtcdFlags } from './options.js';

/** `--subnet-prefix`, shared by `keel network …` and `keel describe` (its own file, so `network run` needs nothing from network.ts). */
export interface SubnetPrefixFlags {
  subnetPrefix: string;
}

export function addSubnetPrefixOption(cmd: Command): Command {
  return cmd.addOption(keelOption('--subnet-prefix <prefix>', 'etcd prefix of the overlay config and leases', DEFAULT_SUBNET_PREFIX));
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
