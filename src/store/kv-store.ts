import type { Etcd3 } from 'etcd3';
import { EtcdLeaseInvalidError, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { EtcdRequestError, EtcdUnavailableError } from '../api/errors.js';
import { companionClient } from './etcd-client.js';
import { prefixEnd } from './prefix-end.js';
import { WatchStreams, type WatchEnd, type WatchHandlers, type WatchOptions } from './watch-stream.js';

/** One key as etcd holds it. Revisions fit a JS number for any real cluster. */
export interface KvEntry {
  key: string;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  lease: string;
}

/** A precondition of a transaction: the key's mod revision, 0 meaning "absent". */
export interface KeyAt {
  key: string;
  modRevision: number;
}

export type TxnOp = { put: string; value: string | Buffer; lease?: string } | { delete: string };

/** How a guarded transaction ended: applied, or a precondition no longer held (another writer won). */
export interface TxnResult {
  outcome: 'applied' | 'conflict';
  revision: number;
}

/** Race outcomes of the single-key writes: keel's own words for etcd's compare failures. */
export type CreateOutcome = 'created' | 'exists';
export type UpdateOutcome = 'updated' | 'conflict';
export type DeleteOutcome = 'deleted' | 'conflict';

/** Whether etcd still holds its history at a revision (see KvStore.historyAt). */
export type HistoryAt = 'kept' | 'compacted' | 'ahead';

/**
 * Where a listing may pin its revision: the newest multiple of `every` at or
 * below the current revision, so that nodes listing during a stream of
 * writes still ask for the same revision (and the proxy's cache answers);
 * the current revision when `every` is 0 or 1, or when the multiple is below
 * `atLeast` (a revision known to be compacted away).
 */
export interface ListPin {
  every?: number;
  atLeast?: number;
}

function pinnedRevision(current: number, { every = 0, atLeast = 0 }: ListPin): number {
  if (every <= 1) return current;
  const pinned = current - (current % every);
  return pinned >= atLeast && pinned > 0 ? pinned : current;
}

export interface ListResult {
  entries: KvEntry[];
  /** The store revision the listing is consistent at; a watch resumes at revision + 1. */
  revision: number;
}

/**
 * etcd's primitives as keel uses them: a consistent paged listing,
 * transactions guarded by mod revisions so that two writers never
 * silently overwrite each other, leases, and a watch from a revision.
 * Choosing what to write is the caller's pure business; racing for it
 * happens here. The etcd client stays inside: every failure leaves as
 * EtcdUnavailableError or EtcdRequestError, every lost race as an outcome.
 */
export class KvStore {
  /** Every watch of this store on one gRPC stream. */
  private readonly streams: WatchStreams;
  /**
   * Listings go over a connection of their own, one at a time. A page past
   * its deadline makes the etcd3 library reset the connection it used,
   * failing every call on it: on the shared one that was the store's watch
   * stream and its other listings, so on a node too busy to read a page in
   * time (a relist storm on a starved machine, measured in docs/scale.md)
   * each timeout threw away the rest of the node's work and nothing ever
   * finished. A slow listing now fails only itself.
   */
  private readonly lister: Etcd3;
  private listing: Promise<unknown> = Promise.resolve();
  /** Revisions below this were refused as compacted: no listing pins to one (a proxy may still hold its pages). */
  private compactedBelow = 0;

  constructor(
    private readonly client: Etcd3,
    readonly endpoints: readonly string[],
  ) {
    this.streams = new WatchStreams(client);
    this.lister = companionClient(client, 'lists') ?? client;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const res = await this.call(`get ${key}`, () => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return kv ? toEntry(kv) : undefined;
  }

  /**
   * Lists a prefix in pages, all at one revision, so large prefixes need no
   * giant response; after this store's listings before it. `pin` picks an
   * older revision to list at (see ListPin).
   */
  list(prefix: string, pageSize = 1_000, pin: ListPin = {}): Promise<ListResult> {
    const run = this.listing.then(() => this.listPages(prefix, pageSize, pin));
    this.listing = run.catch(() => undefined);
    return run;
  }

  /**
   * One cheap linearizable read (a count of the one key `prefix`) learns the
   * current revision; every page is then read serializably at a fixed
   * revision. A page at a fixed revision is the same answer for every node
   * listing there, so etcd's grpc-proxy answers all but the first from its
   * range cache (it caches serializable reads only, and never invalidates one
   * at a fixed revision: a revision's contents never change), and a member
   * answers it without a raft round trip. A serializable read at revision 0
   * is never sent: the proxy would cache it until a write *through the proxy*,
   * stale forever when writers go to etcd directly.
   */
  private async listPages(prefix: string, pageSize: number, pin: ListPin): Promise<ListResult> {
    const head = await this.call(`read the revision of ${prefix}`, () =>
      this.lister.kv.range({ key: Buffer.from(prefix), count_only: true }),
    );
    const current = Number(head.header.revision);
    const pinned = pinnedRevision(current, { ...pin, atLeast: Math.max(pin.atLeast ?? 0, this.compactedBelow) });
    if (pinned < current) {
      try {
        const entries = await this.pagesAt(prefix, pageSize, pinned);
        // A proxy answers from pages it cached before a compaction it never
        // saw (etcd's own, or one sent to a member directly); a watch resumed
        // from a compacted revision through the proxy would break the proxy's
        // shared watch of the prefix for every node (see historyAt), so etcd
        // itself confirms it still holds the revision.
        await this.call(`read ${prefix} at revision ${pinned}`, () =>
          this.lister.kv.range({ key: Buffer.from(prefix), revision: pinned, count_only: true }),
        );
        return { entries, revision: pinned };
      } catch (err) {
        // Compacted since the pin was chosen: the current revision is still there.
        if (refusalOf(err) !== 'compacted') throw err;
        this.compactedBelow = Math.max(this.compactedBelow, pinned + 1);
      }
    }
    return { entries: await this.pagesAt(prefix, pageSize, current), revision: current };
  }

  private async pagesAt(prefix: string, pageSize: number, revision: number): Promise<KvEntry[]> {
    const entries: KvEntry[] = [];
    const rangeEnd = prefixEnd(prefix);
    let start = Buffer.from(prefix);
    for (;;) {
      const page = { key: start, range_end: rangeEnd, limit: pageSize, revision };
      const what = `list ${prefix} at revision ${revision}`;
      let res;
      try {
        res = await this.call(what, () => this.lister.kv.range({ ...page, serializable: true }));
      } catch (err) {
        // A member behind the one that told the revision (or cut off from
        // the quorum) has not got it yet: a linearizable read waits until it
        // has, or fails when it cannot reach the quorum.
        if (refusalOf(err) !== 'future') throw err;
        res = await this.call(what, () => this.lister.kv.range(page));
      }
      for (const kv of res.kvs) entries.push(toEntry(kv));
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) return entries;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  /** All-or-nothing: every precondition holds and every op applies, or nothing does. */
  async txn(conditions: readonly KeyAt[], ops: readonly TxnOp[]): Promise<TxnResult> {
    const compare = conditions.map((c) => ({
      key: Buffer.from(c.key),
      target: 'Mod' as const,
      result: 'Equal' as const,
      mod_revision: c.modRevision,
    }));
    const success = ops.map((op) =>
      'put' in op
        ? { request_put: { key: Buffer.from(op.put), value: Buffer.from(op.value), ...(op.lease ? { lease: op.lease } : {}) } }
        : { request_delete_range: { key: Buffer.from(op.delete) } },
    );
    const res = await this.call(`txn on ${ops.length} key(s)`, () => this.client.kv.txn({ compare, success, failure: [] }));
    return { outcome: res.succeeded ? 'applied' : 'conflict', revision: Number(res.header.revision) };
  }

  /** Unconditional writes, for the one writer that owns a key outright (and tests playing another writer). */
  async put(key: string, value: string | Buffer): Promise<number> {
    return (await this.txn([], [{ put: key, value }])).revision;
  }

  async delete(key: string): Promise<number> {
    return (await this.txn([], [{ delete: key }])).revision;
  }

  async createIfAbsent(key: string, value: string | Buffer, lease?: string): Promise<CreateOutcome> {
    const res = await this.txn([{ key, modRevision: 0 }], [lease ? { put: key, value, lease } : { put: key, value }]);
    return res.outcome === 'applied' ? 'created' : 'exists';
  }

  /**
   * Creates `key` only if it is absent and no key under `prefix` was
   * created after revision `listedAt` (etcd's range compare on
   * create_revision): a writer that chose from a listing at `listedAt`
   * loses to anyone who created a key since, and lists again.
   */
  async createIfNoneCreatedSince(key: string, value: string, prefix: string, listedAt: number, lease?: string): Promise<CreateOutcome> {
    const compare = [
      { key: Buffer.from(key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: 0 },
      {
        key: Buffer.from(prefix),
        range_end: prefixEnd(prefix),
        target: 'Create' as const,
        result: 'Less' as const,
        create_revision: listedAt + 1,
      },
    ];
    const put = { request_put: { key: Buffer.from(key), value: Buffer.from(value), ...(lease ? { lease } : {}) } };
    const res = await this.call(`create ${key}`, () => this.client.kv.txn({ compare, success: [put], failure: [] }));
    return res.succeeded ? 'created' : 'exists';
  }

  /** Writes `value` (attached to `lease` when given) if the key is still at `modRevision`. */
  async updateAt(key: string, value: string | Buffer, modRevision: number, lease?: string): Promise<UpdateOutcome> {
    const res = await this.txn([{ key, modRevision }], [lease ? { put: key, value, lease } : { put: key, value }]);
    return res.outcome === 'applied' ? 'updated' : 'conflict';
  }

  async deleteAt(key: string, modRevision: number): Promise<DeleteOutcome> {
    return (await this.txn([{ key, modRevision }], [{ delete: key }])).outcome === 'applied' ? 'deleted' : 'conflict';
  }

  /** A lease of `ttlSeconds`; keys written with it die with it unless it is renewed. */
  async grantLease(ttlSeconds: number): Promise<string> {
    const res = await this.call(`grant a ${ttlSeconds}s lease`, () => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }));
    if (res.error) throw new EtcdRequestError(`grant a ${ttlSeconds}s lease`, res.error);
    return String(res.ID);
  }

  /** Revokes the lease and deletes its keys; 'expired' when it was already gone. */
  async revokeLease(lease: string): Promise<'revoked' | 'expired'> {
    try {
      await this.call(`revoke lease ${lease}`, () => this.client.leaseClient.leaseRevoke({ ID: lease }));
      return 'revoked';
    } catch (err) {
      if (err instanceof EtcdRequestError && err.cause instanceof EtcdLeaseInvalidError) return 'expired';
      throw err;
    }
  }

  /**
   * Whether etcd can still answer for `revision`: 'compacted' once a
   * compaction removed it, 'ahead' when etcd has not reached it yet (a
   * different etcd at the same address). A count of one key at that
   * revision, which etcd refuses in either case; the read is linearizable,
   * so a grpc-proxy passes it on to etcd instead of answering from its cache.
   */
  async historyAt(key: string, revision: number): Promise<HistoryAt> {
    // On a client of its own: through grpc-proxy the refusal arrives as a
    // retryable error, on which the library would reset this store's
    // connection and every watch on it (companionClient).
    const companion = companionClient(this.client);
    try {
      await this.call(`read ${key} at revision ${revision}`, () =>
        (companion ?? this.client).kv.range({ key: Buffer.from(key), revision, count_only: true }),
      );
      return 'kept';
    } catch (err) {
      const refusal = refusalOf(err);
      if (refusal === 'compacted') return 'compacted';
      if (refusal === 'future') return 'ahead';
      throw err;
    } finally {
      companion?.close();
    }
  }

  /** Watches a prefix from `fromRevision` inclusive, on the stream this store's other watches share (see WatchStreams). */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers, signal: AbortSignal, options: WatchOptions = {}): Promise<WatchEnd> {
    return this.streams.watch(prefix, fromRevision, handlers, signal, options);
  }

  /** Drops history before `revision` (what an etcd operator's compaction does; tests use it to force a relist). */
  async compact(revision: number): Promise<void> {
    await this.call(`compact at ${revision}`, () => this.client.kv.compact({ revision, physical: true }));
  }

  close(): void {
    if (this.lister !== this.client) this.lister.close();
    this.client.close();
  }

  /** Every failure of the client becomes keel's: unreachable etcd, or a request etcd refused. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) {
        throw new EtcdUnavailableError(this.endpoints, err);
      }
      throw new EtcdRequestError(what, err instanceof Error ? err.message : String(err), err);
    }
  }
}

/**
 * etcd's two refusals of a read at a revision, ErrCompacted and ErrFutureRev,
 * told apart only by their text, which grpc-proxy passes on under another
 * status code.
 */
function refusalOf(err: unknown): 'compacted' | 'future' | undefined {
  const text = err instanceof EtcdRequestError ? err.message : '';
  if (text.includes('required revision has been compacted')) return 'compacted';
  if (text.includes('required revision is a future revision')) return 'future';
  return undefined;
}

function toEntry(kv: { key: Buffer; value: Buffer; create_revision: string; mod_revision: string; lease: string }): KvEntry {
  return {
    key: kv.key.toString(),
    value: kv.value,
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    lease: kv.lease,
  };
}
