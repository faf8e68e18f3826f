/** What one key looked like before a batch of changes and what it looks like now. */
export interface Change<T> {
  previous: T | undefined;
  current: T | undefined;
}

/**
 * Sits between a watch and a consumer that programs something: records
 * `{previous, current}` per key, keeping the first previous and the last
 * current, and forgets a key whose changes cancelled out. `drain()` hands
 * the consumer exactly the keys that differ since its last drain.
 */
export class ChangeTracker<K, T> {
  private changes = new Map<K, Change<T>>();

  constructor(private readonly equal: (a: T, b: T) => boolean) {}

  record(key: K, previous: T | undefined, current: T | undefined): void {
    const first = this.changes.has(key) ? (this.changes.get(key) as Change<T>).previous : previous;
    if (this.same(first, current)) this.changes.delete(key);
    else this.changes.set(key, { previous: first, current });
  }

  get size(): number {
    return this.changes.size;
  }

  drain(): ReadonlyMap<K, Change<T>> {
    const out = this.changes;
    this.changes = new Map();
    return out;
  }

  private same(a: T | undefined, b: T | undefined): boolean {
    if (a === undefined || b === undefined) return a === b;
    return this.equal(a, b);
  }
}
