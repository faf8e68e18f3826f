/**
 * Pre-encoded answers by question, each remembered with the names it was
 * read from, so a change drops exactly the answers that read a changed
 * name and every other answer stays encoded. Past `maxEntries` it empties
 * (cheaper than tracking age, and a full cache is rebuilt in moments).
 */
export class AnswerCache<V> {
  private readonly entries = new Map<string, V>();
  /** Name → keys of the answers read from it. Keys of answers dropped through another name may linger; deleting them again is harmless. */
  private readonly readers = new Map<string, Set<string>>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: V, names: Iterable<string>): void {
    if (this.entries.size >= this.maxEntries) this.clear();
    this.entries.set(key, value);
    for (const name of names) {
      const keys = this.readers.get(name) ?? new Set();
      this.readers.set(name, keys.add(key));
    }
  }

  /** Drops every answer read from one of these names. */
  invalidate(names: Iterable<string>): void {
    for (const name of names) {
      for (const key of this.readers.get(name) ?? []) this.entries.delete(key);
      this.readers.delete(name);
    }
  }

  clear(): void {
    this.entries.clear();
    this.readers.clear();
  }
}
