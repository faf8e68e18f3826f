import { DecodeError, NotFoundError } from '../api/errors.js';
import type { CreateOutcome, KvEntry, KvStore, UpdateOutcome } from '../store/kv-store.js';
import { decodeLease, encodeLeaseAttrs, subnetKey, type Lease, type LeaseAttrs, type LeaseSubnets } from './lease.js';
import { parseNetworkConfig, type NetworkConfig } from './network-config.js';

export const DEFAULT_SUBNET_PREFIX = '/coreos.com/network';

/** A lease as stored: the revision a conditional write needs, and the etcd lease that bounds its life. */
export interface StoredLease extends Lease {
  readonly key: string;
  readonly modRevision: number;
  readonly etcdLease: string;
}

export interface LeaseListing {
  leases: StoredLease[];
  /** Keys under subnets/ that are not valid leases: skipped, never fatal. */
  invalid: DecodeError[];
  revision: number;
}

/**
 * flannel's etcd layout (`<prefix>/config`, `<prefix>/subnets/<a.b.c.d>-<len>`)
 * over keel's KvStore. Writes are conditional; the caller decides what
 * to write and what to do when it loses a race.
 */
export class LeaseStore {
  readonly prefix: string;

  constructor(
    readonly kv: KvStore,
    prefix = DEFAULT_SUBNET_PREFIX,
  ) {
    this.prefix = prefix.replace(/\/+$/, '');
  }

  get configKey(): string {
    return `${this.prefix}/config`;
  }

  get subnetsPrefix(): string {
    return `${this.prefix}/subnets/`;
  }

  keyOf(subnets: LeaseSubnets): string {
    return `${this.subnetsPrefix}${subnetKey(subnets)}`;
  }

  async getConfig(): Promise<NetworkConfig> {
    const entry = await this.kv.get(this.configKey);
    if (!entry) throw new NotFoundError(`network config ${this.configKey} (run \`keel network init\`)`);
    return parseNetworkConfig(entry.value.toString(), `network config ${this.configKey}`);
  }

  /** Stores the config; false when one exists and `overwrite` is not set. */
  async putConfig(text: string, overwrite: boolean): Promise<boolean> {
    if (overwrite) {
      await this.kv.put(this.configKey, text);
      return true;
    }
    return (await this.kv.createIfAbsent(this.configKey, text)) === 'created';
  }

  async list(): Promise<LeaseListing> {
    const { entries, revision } = await this.kv.list(this.subnetsPrefix);
    const leases: StoredLease[] = [];
    const invalid: DecodeError[] = [];
    for (const e of entries) {
      try {
        leases.push(this.decode(e));
      } catch (err) {
        if (err instanceof DecodeError) invalid.push(err);
        else throw err;
      }
    }
    return { leases, invalid, revision };
  }

  async get(subnets: LeaseSubnets): Promise<StoredLease | undefined> {
    const e = await this.kv.get(this.keyOf(subnets));
    return e ? this.decode(e) : undefined;
  }

  decode(e: KvEntry): StoredLease {
    return { ...decodeLease(e.key, e.value), key: e.key, modRevision: e.modRevision, etcdLease: e.lease };
  }

  /** An etcd lease of `ttlSeconds`; the key dies with it unless renewed. */
  grant(ttlSeconds: number): Promise<string> {
    return this.kv.grantLease(ttlSeconds);
  }

  async revoke(etcdLease: string): Promise<void> {
    // A lease already expired or revoked has nothing attached any more.
    if (etcdLease && etcdLease !== '0') await this.kv.revokeLease(etcdLease);
  }

  /**
   * Creates the lease only if no node holds its subnets. An IPv4-only or
   * IPv6-only key names one subnet (the IPv6-only key's IPv4 part is the
   * same 0.0.0.0-0 on every node), so its absence is enough. A dual-stack
   * key names two, and `10.244.1.0-24&fd00:0:0:1::-64` does not collide
   * with `10.244.2.0-24&fd00:0:0:1::-64`: it is created only if no lease was
   * created since `listedAt`, the revision the caller chose its subnets at.
   */
  create(subnets: LeaseSubnets, attrs: LeaseAttrs, etcdLease: string, listedAt: number): Promise<CreateOutcome> {
    const key = this.keyOf(subnets);
    const value = encodeLeaseAttrs(attrs);
    if (subnets.ipv6Subnet && subnets.subnet.prefixLength > 0) {
      return this.kv.createIfNoneCreatedSince(key, value, this.subnetsPrefix, listedAt, etcdLease);
    }
    return this.kv.createIfAbsent(key, value, etcdLease);
  }

  /** Rewrites a lease we hold (new attrs and/or a fresh etcd lease) if nobody changed it since `modRevision`. */
  update(subnets: LeaseSubnets, modRevision: number, attrs: LeaseAttrs, etcdLease: string): Promise<UpdateOutcome> {
    return this.kv.updateAt(this.keyOf(subnets), encodeLeaseAttrs(attrs), modRevision, etcdLease);
  }

  async delete(subnets: LeaseSubnets): Promise<void> {
    await this.kv.delete(this.keyOf(subnets));
  }
}
