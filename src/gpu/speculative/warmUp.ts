import type { Decoder, KvCache } from '../runtime/Decoder.js';

/**
 * Warm-ups before an engine's first measured round. A session's first runs pay once for what
 * later runs reuse — on a CPU its arena grows (batch 8: the k = 1 draft session's first run took
 * 13 ms against 2 ms after), on WebGPU its programs compile (the k-step draft sessions 17–24 ms,
 * the target's first multi-position forward 97 ms on an H100) — and the cache-copy helper
 * sessions (`CacheOps`) are built on first use (CPU: a probe that first gathered the draft
 * cache's rows took 17 ms more than its draft run). Plain decoding meets these costs in its
 * first rounds, which are the same for every k; speculation meets them in its first probes, and
 * adaptive k would charge them to the k probed (a CPU batch-8 probe at 3.5× a plain round used
 * up the exploration budget). Each runs once per decoder (sessions live as long as it), batch
 * size and draft length.
 */

const draftWarmed = new WeakMap<Decoder, { rows: number; steps: number }>();
const verifyWarmed = new WeakSet<Decoder>();

/** `rows` rows of one token each at position 0, attended. */
function oneToken(rows: number) {
  const col = (x: number) => Array.from({ length: rows }, () => [x]);
  return { inputIds: col(0), positionIds: col(0), attentionMask: col(1) };
}

/** Opens the cache helpers (row gather, row concat, slot gather) on a 1-slot cache of `rows` rows; disposes it. */
async function warmCacheOps(decoder: Decoder, cache: KvCache, rows: number): Promise<void> {
  const identity = Array.from({ length: rows }, (_, i) => i);
  let c = await cache.gatherRows(identity);
  if (c.gatherSlots) c = await c.gatherSlots(identity.map(() => [0]));
  const other = (await decoder.forward(oneToken(rows), decoder.emptyCache(rows))).cache;
  (await decoder.concatRows(c, other)).dispose();
}

/**
 * A draft decoder: runs the k-step draft sessions for k = 1 … `steps` (`greedyDraft`; `steps`
 * 0: one single-step forward) on `rows` one-token rows, then its cache helpers — unless a
 * warm-up with at least as many rows and steps ran.
 */
export async function warmUpDraft(draft: Decoder, rows: number, steps: number): Promise<void> {
  const done = draftWarmed.get(draft) ?? { rows: 0, steps: 0 };
  if (done.rows >= rows && done.steps >= steps) return;
  for (let k = 1; k <= steps; k++) (await draft.greedyDraft!(oneToken(rows), k, draft.emptyCache(rows))).cache.dispose();
  const out = await draft.forward({ ...oneToken(rows), numLogitsToKeep: 1 }, draft.emptyCache(rows));
  await warmCacheOps(draft, out.cache, rows);
  draftWarmed.set(draft, { rows: Math.max(rows, done.rows), steps: Math.max(steps, done.steps) });
}

/**
 * A target that may verify drafts: one forward over 2 positions on a 1-row cache with a past
 * (plain decoding never runs one after its prefill), then a slot gather (compaction of rejected
 * drafts, which plain decoding never needs).
 */
export async function warmUpVerify(target: Decoder): Promise<void> {
  if (verifyWarmed.has(target)) return;
  const first = await target.forward(oneToken(1), target.emptyCache(1));
  const second = await target.forward({ inputIds: [[0, 0]], positionIds: [[1, 2]], attentionMask: [[1, 1, 1]], numLogitsToKeep: 2 }, first.cache);
  const c = second.cache.gatherSlots ? await second.cache.gatherSlots([[0, 1]]) : second.cache;
  c.dispose();
  verifyWarmed.add(target);
}
