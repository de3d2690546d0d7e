import type { Rng } from '../sampling/rng.js';
import { sampleFrom } from '../sampling/sample.js';

/**
 * The random decisions of the acceptance rule, as two primitives. The rule never reads a
 * uniform number itself: it asks a `Chance` for a coin flip or a categorical draw. In
 * production a `Chance` is backed by the sequence's seeded uniform RNG (`uniformChance`); in
 * the exact tests it is an enumerator that follows every branch with its probability, so the
 * rule's output distribution is computed exactly from the real code (no re-derivation).
 */
export interface Chance {
  /** True with probability `prob` (clamped to [0, 1]). */
  bernoulli(prob: number): boolean;
  /**
   * An index drawn with probability `weights[i] / Σ weights` (weights ≥ 0, not necessarily
   * normalised; the sum must be > 0).
   */
  categorical(weights: ArrayLike<number>): number;
}


/**
 * A `Chance` that consumes one uniform from `rng` (the sequence's own seeded RNG of the
 * sampling module, so its draws do not depend on the rest of the batch) per decision.
 *
 * 1. `bernoulli(p)`: draw u, return u < p (so p = 1 always accepts, p = 0 never does).
 * 2. `categorical(w)`: normalise w and draw with the sampling module's `sampleFrom` (inverse
 *    CDF, one uniform).
 *
 * @example
 * const chance = uniformChance(new Xoshiro128(seed, 0));
 * chance.categorical([0.2, 0.8]); // 1 with probability 0.8
 */
export function uniformChance(rng: Rng): Chance {
  return {
    bernoulli(prob: number): boolean {
      return rng.next() < prob;
    },
    categorical(weights: ArrayLike<number>): number {
      let total = 0;
      for (let i = 0; i < weights.length; i++) total += weights[i]!;
      if (!(total > 0)) throw new Error(`categorical: the weights must have a positive sum, received ${total}`);
      const probs = new Float64Array(weights.length);
      for (let i = 0; i < weights.length; i++) probs[i] = weights[i]! / total;
      return sampleFrom(probs, rng);
    },
  };
}
