import type { Etcd3 } from 'etcd3';
import { GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { EtcdUnavailableError } from '../api/errors.js';

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

export interface TxnResult {
  succeeded: boolean;
  revision: number;
}

export interface ListResult {
  entries: KvEntry[];
  /** The store revision the listing is consistent at; a watch resumes at revision + 1. */
  revision: number;
}

/**
 * etcd's primitives as keel uses them: a consistent paged listing, and
 * transactions guarded by mod revisions so that two writers never
 * silently overwrite each other. Choosing what to write is the caller's
 * pure business; racing for it happens here.
 */
export class KvStore {
  constructor(readonly client: Etcd3, readonly endpoints: readonly string[]) {}

  async get(key: string): Promise<KvEntry | undefined> {
    const res = await this.call(() => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return kv ? toEntry(kv) : undefined;
  }

  /** Lists a prefix in pages, all at one revision, so large prefixes need no giant response. */
  async list(prefix: string, pageSize = 1_000): Promise<ListResult> {
    const entries: KvEntry[] = [];
    const rangeEnd = prefixEnd(prefix);
    let start = Buffer.from(prefix);
    let revision = 0;
    for (;;) {
      const res = await this.call(() => this.client.kv.range({
        key: start,
        range_end: rangeEnd,
        limit: pageSize,
        ...(revision ? { revision } : {}),
      }));
      if (!revision) revision = Number(res.header.revision);
      for (const kv of res.kvs) entries.push(toEntry(kv));
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return { entries, revision };
  }

  /** All-or-nothing: every precondition holds and every op applies, or nothing does. */
  async txn(conditions: readonly KeyAt[], ops: readonly TxnOp[]): Promise<TxnResult> {
    const compare = conditions.map((c) => ({
      key: Buffer.from(c.key),
      target: 'Mod' as const,
      result: 'Equal' as const,
      mod_revision: c.modRevision,
    }));
    const success = ops.map((op) => ('put' in op
      ? { request_put: { key: Buffer.from(op.put), value: Buffer.from(op.value), ...(op.lease ? { lease: op.lease } : {}) } }
      : { request_delete_range: { key: Buffer.from(op.delete) } }));
    const res = await this.call(() => this.client.kv.txn({ compare, success, failure: [] }));
    return { succeeded: Boolean(res.succeeded), revision: Number(res.header.revision) };
  }

  createIfAbsent(key: string, value: string | Buffer, lease?: string): Promise<TxnResult> {
    return this.txn([{ key, modRevision: 0 }], [lease ? { put: key, value, lease } : { put: key, value }]);
  }

  updateAt(key: string, value: string | Buffer, modRevision: number): Promise<TxnResult> {
    return this.txn([{ key, modRevision }], [{ put: key, value }]);
  }

  deleteAt(key: string, modRevision: number): Promise<TxnResult> {
    return this.txn([{ key, modRevision }], [{ delete: key }]);
  }

  /** Maps the client's transport failures to one error naming the endpoints tried. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) {
        throw new EtcdUnavailableError(this.endpoints, err);
      }
      throw err;
    }
  }
}

export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
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
