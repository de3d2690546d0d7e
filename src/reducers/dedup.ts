/**
 * A persistent (immutable) set of event ids, for dropping duplicates under at-least-once
 * delivery without copying every id seen so far on each fold.
 *
 * Ids live in layers, largest first; a fold adds one new layer with the ids of its batch, and
 * layers are merged while the newest is at least half the size of the one before it (like a
 * binary counter), so each id is copied O(log n) times overall and a lookup checks O(log n) sets.
 * Layers are never mutated once they are in an IdSet.
 */
export type IdSet = Readonly<{ layers: readonly ReadonlySet<string>[]; size: number }>;

export const emptyIdSet: IdSet = { layers: [], size: 0 };

/** Whether `id` is in the set. */
export function idSetHas(set: IdSet, id: string): boolean {
  const layers = set.layers;
  for (let i = layers.length - 1; i >= 0; i--) if (layers[i]!.has(id)) return true;
  return false;
}

/**
 * Returns a new IdSet holding `set`'s ids and `fresh`'s (which the caller must not mutate
 * afterwards, and which must not share ids with `set`).
 */
export function idSetWithLayer(set: IdSet, fresh: Set<string>): IdSet {
  if (fresh.size === 0) return set;
  const layers = [...set.layers];
  let top: Set<string> = fresh;
  while (layers.length > 0 && top.size * 2 >= layers[layers.length - 1]!.size) {
    const below = layers.pop()!;
    const merged = new Set(below);
    for (const id of top) merged.add(id);
    top = merged;
  }
  layers.push(top);
  return { layers, size: set.size + fresh.size };
}
