/**
 * Pre-encoded answers by question, each remembered with the names it was
 * read from, so a change drops exactly the answers that read a changed
 * name and every other answer stays encoded. Past `maxEntries` it empties
 * (cheaper than tracking age, and a full cache is rebuilt in moments).
 *
 * A question is a variant (query type and EDNS, numbered by the caller)
 * and a name, looked up in two steps: a key string joining them would be
 * built, and hashed, once per query.
 */
export class AnswerCache<V> {
  private readonly entries = new Map<number, Map<string, V>>();
  /** Name read → variant → question names of the answers read from it. Those dropped through another name may linger; deleting them again is harmless. */
  private readonly readers = new Map<string, Map<number, Set<string>>>();
  private count = 0;

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.count;
  }

  get(variant: number, name: string): V | undefined {
    return this.entries.get(variant)?.get(name);
  }

  set(variant: number, name: string, value: V, namesRead: Iterable<string>): void {
    if (this.count >= this.maxEntries) this.clear();
    let byName = this.entries.get(variant);
    if (!byName) this.entries.set(variant, (byName = new Map()));
    if (!byName.has(name)) this.count++;
    byName.set(name, value);
    for (const read of namesRead) {
      let byVariant = this.readers.get(read);
      if (!byVariant) this.readers.set(read, (byVariant = new Map()));
      let questions = byVariant.get(variant);
      if (!questions) byVariant.set(variant, (questions = new Set()));
      questions.add(name);
    }
  }

  /** Drops every answer read from one of these names. */
  invalidate(names: Iterable<string>): void {
    for (const read of names) {
      for (const [variant, questions] of this.readers.get(read) ?? []) {
        const byName = this.entries.get(variant);
        for (const name of questions) if (byName?.delete(name)) this.count--;
      }
      this.readers.delete(read);
    }
  }

  clear(): void {
    this.entries.clear();
    this.readers.clear();
    this.count = 0;
  }
}
