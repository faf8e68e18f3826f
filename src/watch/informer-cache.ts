import type { KvEntry } from '../store/kv-store.js';
import type { WatchChange } from '../store/watch-stream.js';

export interface InformerEvent<T> {
  type: 'add' | 'update' | 'delete';
  key: string;
  object: T;
  previous?: T;
}

/** Turns a stored value into an object; throws (a KeelError) when the value is not acceptable. */
export type Decode<T> = (key: string, value: Buffer, modRevision: number) => T;

/** Called once per rejected value (per key and mod revision), never again for the same bytes. */
export type OnInvalid = (key: string, modRevision: number, error: unknown) => void;

/**
 * The decoded content of one prefix, fed by watch changes or by a whole
 * listing. Invalid values are remembered by key and mod revision so a
 * relist neither re-reports them nor mistakes them for deletions; a key
 * whose new value is invalid loses its old valid object, because serving
 * a version etcd no longer holds would be a stale cache.
 */
export class InformerCache<T> {
  readonly objects = new Map<string, T>();
  private readonly modRevisions = new Map<string, number>();
  private readonly invalid = new Map<string, number>();

  constructor(
    private readonly decode: Decode<T>,
    private readonly onInvalid: OnInvalid,
  ) {}

  get invalidCount(): number {
    return this.invalid.size;
  }

  apply(change: WatchChange): InformerEvent<T> | undefined {
    const { key, value, modRevision } = change;
    const previous = this.objects.get(key);
    if (value === undefined) {
      this.invalid.delete(key);
      return this.remove(key, previous);
    }
    let object: T;
    try {
      object = this.decode(key, value, modRevision);
    } catch (err) {
      if (this.invalid.get(key) !== modRevision) this.onInvalid(key, modRevision, err);
      this.invalid.set(key, modRevision);
      return this.remove(key, previous);
    }
    this.invalid.delete(key);
    this.objects.set(key, object);
    this.modRevisions.set(key, modRevision);
    return previous === undefined ? { type: 'add', key, object } : { type: 'update', key, object, previous };
  }

  /**
   * Makes the cache equal a full listing and returns the differences as
   * events. Values whose mod revision is unchanged are not decoded again,
   * unless `trustRevisions` is false (etcd's history was replaced).
   */
  replace(entries: readonly KvEntry[], trustRevisions = true): InformerEvent<T>[] {
    const events: InformerEvent<T>[] = [];
    const listed = new Set<string>();
    for (const entry of entries) {
      listed.add(entry.key);
      const known = this.modRevisions.get(entry.key) === entry.modRevision || this.invalid.get(entry.key) === entry.modRevision;
      if (known && trustRevisions) continue;
      const ev = this.apply(entry);
      if (ev) events.push(ev);
    }
    for (const key of [...this.objects.keys()]) {
      if (listed.has(key)) continue;
      const ev = this.remove(key, this.objects.get(key));
      if (ev) events.push(ev);
    }
    for (const key of [...this.invalid.keys()]) {
      if (!listed.has(key)) this.invalid.delete(key);
    }
    return events;
  }

  private remove(key: string, previous: T | undefined): InformerEvent<T> | undefined {
    this.modRevisions.delete(key);
    if (previous === undefined) return undefined;
    this.objects.delete(key);
    return { type: 'delete', key, object: previous };
  }
}
