import type { Decoder, KvCache } from '../runtime/Decoder.js';
import type { Drafter } from './drafter.js';

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

/** `measure()` once per decoder and key. */
export function memoPerDecoder<T>(): (decoder: Decoder, key: string, measure: () => Promise<T>) => Promise<T> {
  const memo = new WeakMap<Decoder, Map<string, T>>();
  return async (decoder, key, measure) => {
    const known = memo.get(decoder)?.get(key);
    if (known !== undefined) return known;
    const value = await measure();
    if (!memo.has(decoder)) memo.set(decoder, new Map());
    memo.get(decoder)!.set(key, value);
    return value;
  };
}

/**
 * Seconds of the fastest forward over each of `widths` positions of `rows` rows after a past of
 * `past` slots, over `passes` timed passes. Each timed forward follows an untimed one of the
 * same shape (on a CPU a forward right after one of another shape costs up to ~1.5× a steady
 * one: ONNX Runtime re-plans its buffers), and the cache is cut back to its `past` slots after
 * every forward (`gatherSlots`, untimed; a decoder without it lets the cache grow): a round
 * costs more with a longer cache (CPU, batch 8: ~0.03 ms per slot against ~5 ms a round), and
 * a curve measured on a growing cache, one position after seven, came out flat (1.05 for two
 * positions at batch 8, where rounds measured 1.3–1.8).
 */
async function fastestForwards(target: Decoder, rows: number, past: number, widths: readonly number[], passes: number): Promise<number[]> {
  const fill = (n: number, x: (i: number) => number) => Array.from({ length: rows }, () => Array.from({ length: n }, (_, i) => x(i)));
  let { cache } = await target.forward({ inputIds: fill(past, () => 0), positionIds: fill(past, (i) => i), attentionMask: fill(past, () => 1), numLogitsToKeep: 1 }, target.emptyCache(rows));
  const keep = fill(past, (i) => i);
  let length = past;
  const forward = async (T: number): Promise<number> => {
    const t0 = performance.now();
    ({ cache } = await target.forward({ inputIds: fill(T, () => 0), positionIds: fill(T, (i) => length + i), attentionMask: fill(length + T, () => 1), numLogitsToKeep: T }, cache));
    const seconds = (performance.now() - t0) / 1000;
    if (cache.gatherSlots) cache = await cache.gatherSlots(keep);
    else length += T;
    return seconds;
  };
  const fastest = widths.map(() => Infinity);
  for (let pass = 0; pass < passes; pass++) {
    for (const [j, T] of widths.entries()) {
      await forward(T);
      fastest[j] = Math.min(fastest[j]!, await forward(T));
    }
  }
  cache.dispose();
  return fastest;
}

const slotCosts = memoPerDecoder<number>();

/**
 * Seconds a one-token forward of `rows` rows costs per cache slot: the fastest of 3 steps after
 * a past of `SHORT` slots against the fastest of 3 after `LONG` slots, over the difference
 * (≥ 0; measured once per decoder and row count). Adaptive k's first price of the cache lead
 * (`AdaptiveK.observeSlotCost`) before its own plain rounds have fitted one — the lead of a
 * wave's first speculative rounds is carried for the whole wave. CPU, batch 8: ~0.03 ms per slot.
 */
export function measureSlotCost(target: Decoder, rows: number): Promise<number> {
  return slotCosts(target, `${rows}`, async () => {
    const [short] = await fastestForwards(target, rows, SHORT, [1], 3);
    const [long] = await fastestForwards(target, rows, LONG, [1], 3);
    return Math.max(0, (long! - short!) / (LONG - SHORT));
  });
}

const SHORT = 16;
const LONG = 144;

const verifyCurves = memoPerDecoder<{ readonly curve: readonly number[]; readonly seconds: number }>();

/**
 * A forward of `rows` rows over k + 1 positions, k = 0 … `kMax`, after a 32-slot past, in units
 * of the one-position forward: the fastest of 3 passes (2 above 8 rows; `fastestForwards`).
 * Measured once per decoder, row count and kMax. CPU, batch 1: 1.00, 1.12–1.19, 1.17–1.27,
 * 1.25–1.34, 1.35–1.54, 1.45–1.61, 1.60–1.75 (one position runs as a matrix-vector product, more
 * as matrix products). Adaptive k's price of a round's forward (`AdaptiveK.observeVerifyCurve`);
 * `seconds`: the one-position forward's, the unit of a drafter's measured cost (`observeDraftCurve`).
 */
export function measureVerifyCurve(target: Decoder, rows: number, kMax: number): Promise<{ readonly curve: readonly number[]; readonly seconds: number }> {
  return verifyCurves(target, `${rows}:${kMax}`, async () => {
    // Two timed passes at larger batches (CPU, 64 rows: ~0.36 s a pass).
    const fastest = await fastestForwards(target, rows, 32, Array.from({ length: kMax + 1 }, (_, k) => k + 1), rows > 8 ? 2 : 3);
    return { curve: fastest.map((t) => t / fastest[0]!), seconds: fastest[0]! };
  });
}

/** What an adaptive engine measures at its start (`measureStartUp`). */
export interface StartUpMeasurements {
  /** Seconds a round at `maxBatchSize` rows costs per cache slot (several rows only; `measureSlotCost`). */
  readonly slotCost?: number;
  /**
   * At one row and at `maxBatchSize` rows, for a free drafter or one with `measureCost`: the
   * target's verify-cost curve, and the drafter's cost per k in one-position forwards of the
   * target measured at the same time.
   */
  readonly curves: ReadonlyArray<{ readonly rows: number; readonly verify: readonly number[]; readonly draft?: readonly number[] }>;
}

/**
 * Everything an adaptive engine with `drafter` measures before its first round — once per
 * process, decoder and shape (each measurement is memoized), so a benchmark can take it before
 * its timed runs as it opens sessions: the slot cost (the cache lead's price) and the cost
 * curves (`AdaptiveK.curveRate`). A free drafter's round is the target's forward over its longest
 * proposal; a draft call has a fixed cost that a line through k = 0 and k = 1 carries to every k.
 */
export async function measureStartUp(target: Decoder, drafter: Drafter, maxBatchSize: number, kMax: number): Promise<StartUpMeasurements> {
  const slotCost = maxBatchSize > 1 ? await measureSlotCost(target, maxBatchSize) : undefined;
  const curves: Array<{ rows: number; verify: readonly number[]; draft?: readonly number[] }> = [];
  if (drafter.free === true || drafter.measureCost) {
    for (const rows of new Set([1, maxBatchSize])) {
      const verify = await measureVerifyCurve(target, rows, kMax);
      const draft = drafter.measureCost ? (await drafter.measureCost(rows, kMax)).map((s) => s / verify.seconds) : undefined;
      curves.push({ rows, verify: verify.curve, ...(draft ? { draft } : {}) });
    }
  }
  return { ...(slotCost !== undefined ? { slotCost } : {}), curves };
}
