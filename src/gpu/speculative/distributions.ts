import type { SamplingParams } from '../../events/index.js';
import { logSoftmaxAt } from '../sampling/processors.js';
import { processedProbs as samplingProcessedProbs } from '../sampling/sample.js';

/**
 * The sampling module's distributions, in the shape speculative decoding uses them: no second
 * implementation of temperature / top-k / top-p — these wrap src/gpu/sampling.
 */

/**
 * p (or q) for one logits row: the sampling module's processed distribution (temperature →
 * top-k → top-p, renormalised; the point mass on the argmax at temperature 0).
 */
export function processedProbs(logits: ArrayLike<number>, s: SamplingParams): Float64Array {
  return samplingProcessedProbs(logits, s);
}

/**
 * The logprob a plain decode reports for `token` (the sampling module's `sampleToken`): log of
 * the processed distribution at temperature > 0, log-softmax of the raw logits at 0.
 */
export function reportedLogprob(logits: ArrayLike<number>, token: number, s: SamplingParams): number {
  if (s.temperature === 0) return logSoftmaxAt(logits, token);
  return Math.log(samplingProcessedProbs(logits, s)[token]!);
}

/** Index of the largest logit, lowest index on ties (as the sampling module's greedy choice). */
export function argmaxOf(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}
