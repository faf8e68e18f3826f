import type { Logger } from '../observe/log.js';
import type { KvStore } from '../store/kv-store.js';
import { Informer } from '../watch/informer.js';
import { decodeLease, type Lease, type LeaseAttrs, type LeaseSubnets } from './lease.js';
import type { LeaseStore } from './lease-store.js';
import { leasesRemoved } from './metrics.js';
import type { NetworkConfig } from './network-config.js';
import { SubnetManager } from './subnet-manager.js';
import type { SubnetSource } from './subnet-source.js';

export interface EtcdSubnetSourceOptions {
  kv: KvStore;
  store: LeaseStore;
  config: NetworkConfig;
  leaseTtlSeconds?: number;
  logger: Logger;
}

/**
 * flannel's etcd mode: this node races the others for a free subnet under
 * `<subnet-prefix>/subnets/` and renews its lease; every node's lease is
 * read from there.
 */
export class EtcdSubnetSource implements SubnetSource {
  readonly name = 'etcd';
  private readonly manager: SubnetManager;
  private readonly informer: Informer<Lease>;
  private readonly changeListeners = new Set<() => void>();
  private signal: AbortSignal | undefined;

  constructor(private readonly options: EtcdSubnetSourceOptions) {
    const { kv, store, config, logger } = options;
    this.manager = new SubnetManager({
      store,
      config,
      logger: logger.child('lease'),
      ...(options.leaseTtlSeconds ? { ttlSeconds: options.leaseTtlSeconds } : {}),
    });
    this.informer = new Informer<Lease>({
      store: kv,
      prefix: store.subnetsPrefix,
      resource: 'leases',
      logger: logger.child('watch'),
      decode: (key, value) => decodeLease(key, value),
    });
    this.informer.subscribe((ev) => {
      const held = this.manager.current();
      if (ev.type === 'delete' && held && ev.key === store.keyOf(held)) {
        // Someone deleted this node's own lease: take it (or another) back now, not at the next renewal.
        logger.warn('own lease deleted; acquiring again', { subnet: ev.object.subnet.text });
        this.manager
          .renew()
          .catch((err: unknown) => logger.error('re-acquiring the deleted lease failed', { error: (err as Error).message }));
      } else if (ev.type === 'delete') leasesRemoved.inc();
      for (const fn of this.changeListeners) fn();
    });
  }

  async start(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    await this.informer.start(signal);
  }

  async acquire(attrs: LeaseAttrs, previous: LeaseSubnets | undefined): Promise<Lease> {
    const held = await this.manager.acquire(attrs, previous);
    if (this.signal) this.manager.start(this.signal);
    return held;
  }

  current(): Lease | undefined {
    return this.manager.current();
  }

  onOwnLease(fn: (lease: Lease) => void): void {
    this.manager.onReacquired(fn);
  }

  leases(): Lease[] {
    return [...this.informer.items().values()];
  }

  onChange(fn: () => void): void {
    this.changeListeners.add(fn);
  }
}
