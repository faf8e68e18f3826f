import { KeelError } from '../api/errors.js';
import type { Logger } from '../observe/log.js';
import type { KvStore } from '../store/kv-store.js';
import { decodeStored } from '../store/object-store.js';
import { Informer } from '../watch/informer.js';
import { decodeLeaseAttrs, encodeLeaseAttrs, type Lease, type LeaseAttrs } from './lease.js';
import type { NetworkConfig } from './network-config.js';
import { mergeNodeLeases, nodeLease } from './node-lease.js';
import type { SubnetSource } from './subnet-source.js';

export interface NodeSubnetSourceOptions {
  kv: KvStore;
  /** Where kube-apiserver keeps Nodes (`<registry>/minions/<name>`); only read. */
  registryPrefix: string;
  /** keel's overlay prefix: each agent publishes its lease attributes at `<subnet-prefix>/nodes/<node-name>`. */
  subnetPrefix: string;
  nodeName: string;
  config: NetworkConfig;
  logger: Logger;
}

/**
 * flannel's kube-subnet-mgr: this node's subnet is its Node's spec.podCIDR
 * (assigned by kube-controller-manager), the other nodes' subnets and
 * addresses come from their Nodes. Where flannel annotates its own Node
 * with the backend data (the VTEP MAC), keel never writes the
 * apiserver-owned object: it publishes the same LeaseAttrs JSON under its
 * own prefix, and reads flannel's annotations of nodes that still run flannel.
 * A Node that cannot be a lease is skipped, logged once and counted by its
 * informer (keel_watch_invalid_objects_total{resource="nodes"}).
 */
export class NodeSubnetSource implements SubnetSource {
  readonly name = 'node';
  private readonly nodes: Informer<Lease>;
  private readonly published: Informer<LeaseAttrs>;
  private readonly nodeKey: string;
  private readonly publishedKey: string;
  private held: Lease | undefined;
  private attrs: LeaseAttrs | undefined;
  private readonly ownListeners = new Set<(lease: Lease) => void>();
  private readonly changeListeners = new Set<() => void>();
  private readonly log: Logger;
  private signal: AbortSignal | undefined;

  constructor(private readonly options: NodeSubnetSourceOptions) {
    const { kv, config, logger } = options;
    this.log = logger;
    const nodesPrefix = `${options.registryPrefix.replace(/\/+$/, '')}/minions/`;
    const publishedPrefix = `${options.subnetPrefix.replace(/\/+$/, '')}/nodes/`;
    this.nodeKey = `${nodesPrefix}${options.nodeName}`;
    this.publishedKey = `${publishedPrefix}${options.nodeName}`;
    this.nodes = new Informer<Lease>({
      store: kv,
      prefix: nodesPrefix,
      resource: 'nodes',
      logger: logger.child('nodes'),
      decode: (key, value, modRevision) => nodeLease(decodeStored('Node', { key, value, modRevision }), config),
    });
    this.published = new Informer<LeaseAttrs>({
      store: kv,
      prefix: publishedPrefix,
      resource: 'node-leases',
      logger: logger.child('node-leases'),
      decode: (key, value) => decodeLeaseAttrs(`published lease ${key}`, value),
    });
    this.nodes.subscribe((ev) => {
      if (ev.key === this.nodeKey) this.ownNodeChanged(ev.type === 'delete' ? undefined : ev.object);
      this.changed();
    });
    this.published.subscribe((ev) => {
      if (ev.key === this.publishedKey && ev.type === 'delete' && this.attrs) {
        // Someone deleted this node's record: the other nodes would lose its VTEP MAC; write it again.
        this.log.warn('own published lease deleted; writing it again', { key: ev.key });
        this.publish(this.attrs).catch((err: unknown) =>
          this.log.error('re-publishing the lease failed', { error: (err as Error).message }),
        );
      }
      this.changed();
    });
  }

  async start(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    await Promise.all([this.nodes.start(signal), this.published.start(signal)]);
  }

  /** Publishes `attrs`, then waits for this node's Node to carry a usable podCIDR (kube-controller-manager assigns it). */
  async acquire(attrs: LeaseAttrs): Promise<Lease> {
    this.attrs = attrs;
    await this.publish(attrs);
    const found = this.nodes.items().get(this.nodeKey);
    if (!found) {
      this.log.warn("waiting for this node's Node object with a spec.podCIDR in the overlay network", {
        node: this.options.nodeName,
        key: this.nodeKey,
      });
    }
    const lease = found ?? (await this.ownNodeAppears());
    this.held = { ...lease, attrs };
    this.log.info('took subnet from Node', {
      node: this.options.nodeName,
      subnet: lease.subnet.text,
      ...(lease.ipv6Subnet ? { ipv6Subnet: lease.ipv6Subnet.text } : {}),
      publicIp: attrs.publicIp.text,
    });
    return this.held;
  }

  current(): Lease | undefined {
    return this.held;
  }

  onOwnLease(fn: (lease: Lease) => void): void {
    this.ownListeners.add(fn);
  }

  leases(): Lease[] {
    const byName = <T>(items: ReadonlyMap<string, T>): Map<string, T> =>
      new Map([...items].map(([key, v]) => [key.slice(key.lastIndexOf('/') + 1), v]));
    const leases = mergeNodeLeases(byName(this.nodes.items()), byName(this.published.items()));
    // This node as it runs now, whatever its record in etcd says at this instant.
    return this.held ? leases.map((l) => (l.subnet.text === this.held?.subnet.text ? (this.held as Lease) : l)) : leases;
  }

  onChange(fn: () => void): void {
    this.changeListeners.add(fn);
  }

  private async publish(attrs: LeaseAttrs): Promise<void> {
    await this.options.kv.put(this.publishedKey, encodeLeaseAttrs(attrs));
  }

  private changed(): void {
    for (const fn of this.changeListeners) fn();
  }

  /** kube's podCIDR is set once, but a Node deleted and registered again may get another. */
  private ownNodeChanged(lease: Lease | undefined): void {
    const held = this.held;
    if (!held) return;
    if (!lease) {
      this.log.warn("this node's Node object is gone (or no longer a usable lease); keeping its subnet", { subnet: held.subnet.text });
      return;
    }
    if (lease.subnet.text === held.subnet.text && lease.ipv6Subnet?.text === held.ipv6Subnet?.text) return;
    this.held = { ...lease, attrs: held.attrs };
    this.log.warn("this node's Node has another podCIDR; moving to it", { from: held.subnet.text, to: lease.subnet.text });
    for (const fn of this.ownListeners) fn(this.held);
  }

  private ownNodeAppears(): Promise<Lease> {
    return new Promise<Lease>((resolve, reject) => {
      const signal = this.signal;
      const aborted = (): void => {
        off();
        reject(new KeelError('KEEL_NOT_FOUND', "stopped before this node's Node object had a usable podCIDR", { subject: this.nodeKey }));
      };
      const off = this.nodes.subscribe((ev) => {
        if (ev.key !== this.nodeKey || ev.type === 'delete') return;
        off();
        signal?.removeEventListener('abort', aborted);
        resolve(ev.object);
      });
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }
}
