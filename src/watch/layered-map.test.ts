import { describe, expect, it } from 'vitest';
import { LayeredMap } from './layered-map.js';

type Obj = { v: number };

/** A small deterministic generator, so a failure replays. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('LayeredMap', () => {
  it('follows a Map through random batches of sets and deletes, and every older version stays as it was', () => {
    const rand = rng(7);
    const live = new Map<string, Obj>();
    for (let i = 0; i < 200; i++) live.set(`k${i}`, { v: i });
    let map = LayeredMap.of(live);
    const versions: { map: LayeredMap<string, Obj>; copy: Map<string, Obj> }[] = [{ map, copy: new Map(live) }];
    for (let step = 0; step < 400; step++) {
      const batch = new Map<string, Obj | undefined>();
      const n = 1 + Math.floor(rand() * (step % 50 === 0 ? 150 : 4));
      for (let j = 0; j < n; j++) {
        const key = `k${Math.floor(rand() * 260)}`;
        const value = rand() < 0.3 ? undefined : { v: step * 1000 + j };
        batch.set(key, value);
        if (value) live.set(key, value);
        else live.delete(key);
      }
      map = map.with(batch);
      versions.push({ map, copy: new Map(live) });
      expect(map.size).toBe(live.size);
    }
    const wrong: string[] = [];
    for (const [at, { map: m, copy }] of versions.entries()) {
      const entries = [...m];
      if (m.size !== copy.size || entries.length !== copy.size || entries.some(([k, v]) => copy.get(k) !== v)) wrong.push(`${at}: entries`);
      for (let i = 0; i < 260; i++)
        if (m.get(`k${i}`) !== copy.get(`k${i}`) || m.has(`k${i}`) !== copy.has(`k${i}`)) wrong.push(`${at}: k${i}`);
    }
    expect(wrong).toEqual([]);
  });

  it('keeps a changed key in its place and puts a new one last, as a Map does', () => {
    const a = { v: 1 };
    const b = { v: 2 };
    const m = LayeredMap.of(
      new Map([
        ['a', a],
        ['b', b],
      ]),
    ).with(
      new Map<string, Obj | undefined>([
        ['c', { v: 3 }],
        ['a', { v: 4 }],
      ]),
    );
    expect([...m.keys()]).toEqual(['a', 'b', 'c']);
    expect([...m.values()].map((o) => o.v)).toEqual([4, 2, 3]);
    const seen: string[] = [];
    m.forEach((_v, k, whole) => seen.push(`${k}:${whole === m}`));
    expect(seen).toEqual(['a:true', 'b:true', 'c:true']);
  });

  it('returns itself for no changes, and an iteration started before a newer version sees its own entries', () => {
    const m = LayeredMap.of(new Map([['a', { v: 1 }]]));
    expect(m.with(new Map())).toBe(m);
    const it = m.entries();
    m.with(new Map([['a', undefined]]));
    expect([...it].map(([k]) => k)).toEqual(['a']);
  });
});
