/**
 * Theoretical speedup of speculative decoding over plain decoding (REFERENCE.md):
 * S(α, c, k) = (1 − α^(k+1)) / ((1 − α)(k·c + 1)), with per-token acceptance α, draft/target
 * cost ratio c and k drafts (α = 1: (k + 1) / (k·c + 1)).
 */
export function theoreticalSpeedup(alpha: number, c: number, k: number): number {
  const tokens = alpha >= 1 ? k + 1 : (1 - alpha ** (k + 1)) / (1 - alpha);
  return tokens / (k * c + 1);
}

export interface AdaptiveKOptions {
  /** Largest draft length considered (k ∈ {0, …, kMax}). */
  readonly kMax: number;
  /**
   * Weight of history in the running estimates, per observation (default 0.98: the last ~50
   * observations dominate), so acceptance follows a policy drifting away from its draft.
   */
  readonly decay?: number;
  /**
   * While k = 0 is chosen, re-measure with k = 1 after 8, 16, 32, … rounds, at most every this
   * many rounds (default 100): early mistakes are corrected fast, the long-run cost is small.
   */
  readonly probeEvery?: number;
  /** Predicted gain over k = 0 that speculation needs to be chosen (default 0.1 = 10%). */
  readonly minGain?: number;
}

/** One finished round, as measured by the engine. */
export interface RoundMeasurement {
  readonly batchSize: number;
  /** Draft length chosen for the round (the drafter may have proposed fewer). */
  readonly k: number;
  /** Positions the target scored per sequence (1 + the longest proposal). */
  readonly tokensPerRow: number;
  /** Seconds spent verifying: the target forward pass plus acceptance. */
  readonly verifySeconds: number;
  /** Seconds the drafter spent proposing (0 when k = 0). */
  readonly draftSeconds: number;
}

interface Ema {
  /** Recent samples (cost estimates only). */
  recent?: number[];
  value: number;
  weight: number;
}

/**
 * A cost estimate robust to a shared machine: the lower median of the last `COST_WINDOW`
 * samples. Spikes (another process took the cores) do not move it until they are the majority;
 * unlike the minimum it is not optimistic for a cost whose samples vary more (a longer forward).
 */
function medianAdd(e: Ema | undefined, x: number): Ema {
  const recent = [...(e?.recent ?? []), x].slice(-COST_WINDOW);
  const sorted = [...recent].sort((a, b) => a - b);
  return { value: sorted[(sorted.length - 1) >> 1]!, weight: (e?.weight ?? 0) + 1, recent };
}

function emaAdd(e: Ema | undefined, x: number, decay: number): Ema {
  if (!e) return { value: x, weight: 1 };
  const weight = e.weight * decay + 1;
  return { value: e.value + (x - e.value) / weight, weight };
}

/**
 * Chooses the draft length k per round, maximising expected tokens per second at the current
 * batch size from measured acceptance and measured costs.
 *
 * Model, per batch-size bucket b (powers of two) and draft length k:
 *   tokens per sequence-round  E(k) = 1 + Σ_{i<k} r_i,
 *     r_i = measured share of sequence-rounds asking for > i drafts whose draft i was accepted
 *     (this folds in the drafter proposing fewer than k), blended with a weak prior (see
 *     `acceptanceAt`);
 *   seconds per round          C_b(k) = V_b(k + 1) + k·d_b,
 *     V_b(T) = verify cost at T positions per row: measured, or interpolated between the
 *     measured T of the bucket (piecewise linear; see `verifyCost`);
 *     d_b = measured draft seconds per draft step. Each measured cost is the lower median of
 *     its last 9 samples: robust to contention spikes on a shared machine.
 *
 * 1. A bucket with no measurements explores: k = min(kMax, 3) first, then k = 0 — two rounds
 *    measure both ends of the line V_b (a short probe, k = 1, extrapolates badly from two
 *    noisy points) and a first acceptance figure for three positions.
 * 2. Otherwise choose argmax_k E(k) / C_b(k) (ties → smaller k); k ≥ 1 only when it beats
 *    k = 0 by `minGain` (10%).
 * 3. While the choice is 0, probe with k = 1 after 8, 16, 32, … (at most `probeEvery`) rounds,
 *    so acceptance and the T = 2 cost keep being measured (the policy may have moved closer to
 *    the draft; an early estimate may have been unlucky).
 *
 * @example
 * const ak = new AdaptiveK({ kMax: 6 });
 * const k = ak.choose(batch.length);
 * // … run the round …
 * ak.observeRound({ batchSize, k, tokensPerRow, verifySeconds, draftSeconds });
 * ak.observeAcceptance(k, accepted); // per sequence
 */
export class AdaptiveK {
  readonly kMax: number;
  private readonly decay: number;
  private readonly probeEvery: number;
  private readonly minGain: number;
  /** Per position i: EMA of "draft i accepted" over sequence-rounds that asked for > i drafts. */
  private readonly accept: Array<Ema | undefined> = [];
  private readonly verify = new Map<number, Map<number, Ema>>();
  private readonly draftStep = new Map<number, Ema>();
  private sinceProbe = 0;
  private probeInterval = FIRST_PROBE;

  constructor(options: AdaptiveKOptions) {
    if (!Number.isInteger(options.kMax) || options.kMax < 0) {
      throw new Error(`AdaptiveK: kMax must be an integer ≥ 0, received ${options.kMax}`);
    }
    this.kMax = options.kMax;
    this.decay = options.decay ?? 0.98;
    this.probeEvery = options.probeEvery ?? 100;
    this.minGain = options.minGain ?? 0.1;
  }

  /** The draft length for the next round at `batchSize` sequences. */
  choose(batchSize: number): number {
    if (this.kMax === 0) return 0;
    const table = this.verify.get(bucketOf(batchSize));
    if (!table || ![...table.keys()].some((t) => t > 1)) return Math.min(this.kMax, 3);
    if (!table.has(1)) return 0;
    const best = this.bestK(batchSize);
    if (best > 0) {
      this.sinceProbe = 0;
      this.probeInterval = FIRST_PROBE;
      return best;
    }
    if (++this.sinceProbe < this.probeInterval) return 0;
    this.sinceProbe = 0;
    this.probeInterval = Math.min(this.probeEvery, 2 * this.probeInterval);
    return 1;
  }

  /**
   * argmax_k expected tokens per second (no exploration). Speculation must beat plain decoding
   * by `minGain` (default 10%) to be chosen: near break-even, the variance of the measurements
   * and the batch's slowest sequence make a predicted small gain a likely small loss.
   */
  bestK(batchSize: number): number {
    const plainRate = this.expectedTokens(0) / this.expectedCost(batchSize, 0);
    let best = 0;
    let bestRate = plainRate * (1 + this.minGain);
    for (let k = 1; k <= this.kMax; k++) {
      const rate = this.expectedTokens(k) / this.expectedCost(batchSize, k);
      if (rate > bestRate * (1 + 1e-9)) {
        best = k;
        bestRate = rate;
      }
    }
    return best;
  }

  /** E(k): expected tokens emitted per sequence-round with draft length k. */
  expectedTokens(k: number): number {
    let total = 1;
    for (let i = 0; i < k; i++) total += this.acceptanceAt(i);
    return total;
  }

  /**
   * r_i: the probability that draft position i is accepted. The measurement is blended with
   * `PRIOR_WEIGHT` pseudo-observations of a prior — 0.5 at position 0, 0.9·r_{i−1} after it — so
   * that one unlucky early round does not pin a position at 0 (k = 0 rounds measure nothing, so
   * a pessimistic estimate would otherwise never be revisited); with data the measurement wins.
   */
  acceptanceAt(i: number): number {
    const prior = i === 0 ? 0.5 : 0.9 * this.acceptanceAt(i - 1);
    const m = this.accept[i];
    if (!m) return prior;
    return (m.weight * m.value + PRIOR_WEIGHT * prior) / (m.weight + PRIOR_WEIGHT);
  }

  /** C_b(k): expected seconds of a round with draft length k at `batchSize`. */
  expectedCost(batchSize: number, k: number): number {
    const b = bucketOf(batchSize);
    return Math.max(1e-12, this.verifyCost(b, k + 1)) + k * (this.draftStep.get(b)?.value ?? 0);
  }

  /** Records one round's costs. */
  observeRound(m: RoundMeasurement): void {
    const b = bucketOf(m.batchSize);
    let table = this.verify.get(b);
    if (!table) this.verify.set(b, (table = new Map()));
    // Keyed by the positions actually scored: an exploration where nobody proposed is a T = 1
    // measurement, and exploration asks again.
    table.set(m.tokensPerRow, medianAdd(table.get(m.tokensPerRow), m.verifySeconds));
    if (m.k > 0) this.draftStep.set(b, medianAdd(this.draftStep.get(b), m.draftSeconds / m.k));
  }

  /**
   * Records one sequence's verification: the round asked for `k` drafts and `accepted` were
   * accepted (a drafter that proposed fewer simply has fewer accepted: r_i measures both).
   */
  observeAcceptance(k: number, accepted: number): void {
    for (let i = 0; i < k; i++) {
      this.accept[i] = emaAdd(this.accept[i], i < accepted ? 1 : 0, this.decay);
    }
  }

  /**
   * V_b(T): the measured cost at T when there is one; otherwise interpolated linearly between
   * the nearest measured T on each side, or extrapolated from the two nearest on one side
   * (slope ≥ 0), or proportional to T from a single point. Not one global line: on a CPU the
   * step from T = 1 (a matrix-vector product) to T = 2 (a matrix-matrix product) costs far
   * more than each further position, and a line through both ends would hide it.
   */
  private verifyCost(bucket: number, tokensPerRow: number): number {
    const table = this.verify.get(bucket);
    if (!table || table.size === 0) return 1;
    const exact = table.get(tokensPerRow);
    if (exact) return exact.value;
    const pts = [...table.entries()].map(([t, e]) => [t, e.value] as const).sort((a, b) => a[0] - b[0]);
    if (pts.length === 1) return (pts[0]![1] * tokensPerRow) / pts[0]![0];
    const below = pts.filter(([t]) => t < tokensPerRow);
    const above = pts.filter(([t]) => t > tokensPerRow);
    const line = ([t0, c0]: readonly [number, number], [t1, c1]: readonly [number, number]) =>
      c0 + (Math.max(0, c1 - c0) / (t1 - t0)) * (tokensPerRow - t0);
    if (below.length > 0 && above.length > 0) return line(below[below.length - 1]!, above[0]!);
    if (below.length >= 2) return line(below[below.length - 2]!, below[below.length - 1]!);
    return Math.min(above[0]![1], line(above[0]!, above[1]!));
  }
}

const FIRST_PROBE = 8;
const PRIOR_WEIGHT = 2;
const COST_WINDOW = 9;

/** Batch sizes 1, 2, 3–4, 5–8, … share a cost table. */
export function bucketOf(batchSize: number): number {
  return Math.ceil(Math.log2(Math.max(1, batchSize)));
}
