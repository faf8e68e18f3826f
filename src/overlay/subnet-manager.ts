import { randomBytes } from 'node:crypto';
import { AllocationError, ConflictError } from '../api/errors.js';
import type { PickIndex } from '../ipam/service-ips.js';
import { createLogger, type Logger } from '../observe/log.js';
import { subnetKey, type LeaseAttrs, type LeaseSubnets } from './lease.js';
import type { LeaseStore, StoredLease } from './lease-store.js';
import { leaseAcquisitions, leaseRenewals, leasesLost } from './metrics.js';
import type { NetworkConfig } from './network-config.js';
import { planAcquire } from './plan-acquire.js';

const DEFAULT_LEASE_TTL_SECONDS = 24 * 3600;

export interface SubnetManagerOptions {
  store: LeaseStore;
  config: NetworkConfig;
  /** etcd lease TTL of the subnet lease; flannel's 24 h by default. */
  ttlSeconds?: number;
  /** Renew this long before expiry; default one hour, or half the TTL when that is shorter. */
  renewMarginSeconds?: number;
  pick?: PickIndex;
  maxAttempts?: number;
  logger?: Logger;
}

export interface HeldLease extends LeaseSubnets {
  attrs: LeaseAttrs;
  etcdLease: string;
}

/** Just the subnets of a lease (a stored lease also carries its key, revision and attrs). */
const subnetsOf = (l: LeaseSubnets): LeaseSubnets => (l.ipv6Subnet ? { subnet: l.subnet, ipv6Subnet: l.ipv6Subnet } : { subnet: l.subnet });

/** A random offset in [0, n): spreads concurrent acquirers over the free subnets. */
const randomPick: PickIndex = (n) => BigInt(`0x${randomBytes(8).toString('hex')}`) % n;

/**
 * Acquires and keeps this node's subnet lease. Acquisition races other
 * nodes through create-if-absent transactions and retries on a fresh
 * listing; renewal moves the key to a fresh etcd lease well before the
 * old one expires. Nothing runs until `start`.
 */
export class SubnetManager {
  private held: HeldLease | undefined;
  private readonly log: Logger;
  private readonly ttl: number;
  private readonly margin: number;
  private readonly listeners = new Set<(lease: HeldLease) => void>();

  constructor(private readonly options: SubnetManagerOptions) {
    this.log = options.logger ?? createLogger('overlay/subnet-manager');
    this.ttl = options.ttlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
    this.margin = Math.min(options.renewMarginSeconds ?? 3600, this.ttl / 2);
  }

  current(): HeldLease | undefined {
    return this.held;
  }

  /** Called when renewal found the lease gone and a new one was acquired (possibly another subnet). */
  onReacquired(fn: (lease: HeldLease) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async acquire(attrs: LeaseAttrs, previous?: LeaseSubnets): Promise<HeldLease> {
    const { store, config } = this.options;
    const pick = this.options.pick ?? randomPick;
    const etcdLease = await store.grant(this.ttl);
    try {
      for (let attempt = 1; attempt <= (this.options.maxAttempts ?? 50); attempt++) {
        const { leases, revision } = await store.list();
        const plan = planAcquire(config, leases, attrs, previous, pick);
        if (plan.kind === 'full') {
          const range = plan.family === 6 && config.ipv6 ? config.ipv6 : config;
          throw new AllocationError(
            `network ${range.network.text}`,
            `is full: all ${plan.leasable} /${range.subnetLen} subnets from ${range.subnetMin.text} to ${range.subnetMax.text} are leased`,
          );
        }
        if (plan.kind === 'reuse') {
          if ((await store.update(plan.lease, plan.lease.modRevision, attrs, etcdLease)) === 'updated') {
            await this.revokeQuietly(plan.lease);
            return this.took(plan.lease, attrs, etcdLease, 'reused');
          }
        } else if ((await store.create(plan.subnets, attrs, etcdLease, revision)) === 'created') {
          return this.took(plan.subnets, attrs, etcdLease, plan.how);
        }
        this.log.debug('lost a race for a subnet, listing again', { attempt });
      }
    } catch (err) {
      await store.revoke(etcdLease).catch(() => undefined);
      throw err;
    }
    await store.revoke(etcdLease).catch(() => undefined);
    throw new ConflictError(`network ${config.network.text}`, 'could not acquire a subnet: every attempt lost a race');
  }

  /** Moves the lease onto a fresh etcd lease; re-acquires if someone deleted or took it. */
  async renew(): Promise<HeldLease> {
    const held = this.held;
    if (!held) throw new ConflictError('subnet lease', 'renew before acquire');
    const { store } = this.options;
    const etcdLease = await store.grant(this.ttl);
    const stored = await store.get(held);
    if (
      stored &&
      stored.attrs.publicIp.text === held.attrs.publicIp.text &&
      stored.attrs.publicIpv6?.text === held.attrs.publicIpv6?.text &&
      (await store.update(held, stored.modRevision, held.attrs, etcdLease)) === 'updated'
    ) {
      await this.revokeQuietly(stored);
      this.held = { ...held, etcdLease };
      leaseRenewals.inc({ result: 'ok' });
      this.log.info('renewed subnet lease', { subnet: subnetKey(held), ttl: this.ttl });
      return this.held;
    }
    await store.revoke(etcdLease).catch(() => undefined);
    leaseRenewals.inc({ result: 'lost' });
    leasesLost.inc();
    this.log.warn('own subnet lease is gone; acquiring again', { subnet: subnetKey(held) });
    const again = await this.acquire(held.attrs, subnetsOf(held));
    for (const fn of this.listeners) fn(again);
    return again;
  }

  /** Renews `margin` before each expiry until the signal aborts; retries failures every few seconds. */
  start(signal: AbortSignal): void {
    let timer: NodeJS.Timeout | undefined;
    const schedule = (ms: number): void => {
      if (signal.aborted) return;
      timer = setTimeout(() => {
        this.renew().then(
          () => schedule((this.ttl - this.margin) * 1000),
          (err: unknown) => {
            leaseRenewals.inc({ result: 'error' });
            this.log.error('lease renewal failed; retrying', { error: (err as Error).message });
            schedule(Math.min(5_000, (this.margin * 1000) / 4));
          },
        );
      }, ms);
      timer.unref?.();
    };
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    schedule((this.ttl - this.margin) * 1000);
  }

  private took(subnets: LeaseSubnets, attrs: LeaseAttrs, etcdLease: string, how: 'reused' | 'previous' | 'new'): HeldLease {
    this.held = { ...subnetsOf(subnets), attrs, etcdLease };
    leaseAcquisitions.inc({ how });
    this.log.info('acquired subnet lease', {
      subnet: subnetKey(subnets),
      how,
      publicIp: attrs.publicIp.text,
      ...(attrs.publicIpv6 ? { publicIpv6: attrs.publicIpv6.text } : {}),
    });
    return this.held;
  }

  private async revokeQuietly(old: StoredLease): Promise<void> {
    await this.options.store.revoke(old.etcdLease).catch((err: unknown) => {
      this.log.debug('could not revoke the old etcd lease', { error: (err as Error).message });
    });
  }
}
