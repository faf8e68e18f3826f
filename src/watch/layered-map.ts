/** A key a layer deletes (a layer never holds undefined). */
const GONE: unique symbol = Symbol('gone');
type Layer<K, V> = ReadonlyMap<K, V | typeof GONE>;

/**
 * An immutable map that is an older map plus the changes made since:
 * `with(changes)` costs about the size of the changes, not of the map,
 * and never alters the map it is called on, so a snapshot handed to a
 * consumer stays as it was while the next ones are made. Layers are kept
 * as a binary counter keeps its bits: a layer at least half the size of
 * the one below is merged into it (into a new map; older snapshots share
 * the old ones), so there are at most log₂(size) layers and each entry is
 * copied O(log size) times in all. Lookups ask the layers from the top;
 * iteration builds the whole map once, in the order a Map given the same
 * changes would keep (a changed key keeps its place).
 */
export class LayeredMap<K, V extends object> implements ReadonlyMap<K, V> {
  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    private readonly layers: readonly Layer<K, V>[],
    readonly size: number,
  ) {}

  /** A copy of `entries` (the one O(size) step). */
  static of<K, V extends object>(entries: ReadonlyMap<K, V>): LayeredMap<K, V> {
    return new LayeredMap(new Map(entries), [], entries.size);
  }

  /** This map with each key of `changes` set to its value, or deleted where the value is undefined. */
  with(changes: ReadonlyMap<K, V | undefined>): LayeredMap<K, V> {
    if (changes.size === 0) return this;
    let size = this.size;
    const top = new Map<K, V | typeof GONE>();
    for (const [k, v] of changes) {
      size += (v === undefined ? 0 : 1) - (this.has(k) ? 1 : 0);
      top.set(k, v ?? GONE);
    }
    let base = this.base;
    const layers: Layer<K, V>[] = [...this.layers];
    let merged: Layer<K, V> = top;
    for (;;) {
      const below = layers.at(-1);
      if (below === undefined) {
        if (merged.size * 2 < base.size) break;
        base = applyTo(new Map(base), merged);
        return new LayeredMap(base, [], size);
      }
      if (merged.size * 2 < below.size) break;
      layers.pop();
      const m = new Map(below);
      for (const [k, v] of merged) m.set(k, v);
      merged = m;
    }
    layers.push(merged);
    return new LayeredMap(base, layers, size);
  }

  get(key: K): V | undefined {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const v = (this.layers[i] as Layer<K, V>).get(key);
      if (v !== undefined) return v === GONE ? undefined : v;
    }
    return this.base.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  entries(): MapIterator<[K, V]> {
    return this.whole().entries();
  }

  keys(): MapIterator<K> {
    return this.whole().keys();
  }

  values(): MapIterator<V> {
    return this.whole().values();
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.whole()) fn.call(thisArg, v, k, this);
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  /** The whole map, built for one iteration: a consumer may iterate across awaits while newer maps are made. */
  private whole(): Map<K, V> {
    if (this.layers.length === 0) return this.base as Map<K, V>;
    const out = new Map(this.base);
    for (const layer of this.layers) applyTo(out, layer);
    return out;
  }
}

function applyTo<K, V>(map: Map<K, V>, layer: Layer<K, V>): Map<K, V> {
  for (const [k, v] of layer) {
    if (v === GONE) map.delete(k);
    else map.set(k, v);
  }
  return map;
}
