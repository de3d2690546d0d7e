/**
 * Logits processors: small classes with one signature, parameters validated in the
 * constructor (and the error thrown). They work in place on float64 scores, where −Infinity
 * marks a filtered token. Order, as in Hugging Face and vLLM: temperature → top-k → top-p.
 */
export interface LogitsProcessor {
  /** Transforms the scores of one row in place. */
  apply(scores: Float64Array): void;
}

export class SamplingParamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SamplingParamError';
  }
}

/** Divides by the temperature (> 0; temperature 0 = greedy is handled by the sampler). */
export class Temperature implements LogitsProcessor {
  constructor(readonly temperature: number) {
    if (!(Number.isFinite(temperature) && temperature > 0)) {
      throw new SamplingParamError(`temperature must be a finite number > 0 (0 means greedy and skips this processor); got ${temperature}`);
    }
  }

  apply(scores: Float64Array): void {
    if (this.temperature === 1) return;
    for (let i = 0; i < scores.length; i++) scores[i]! /= this.temperature;
  }
}

/** Keeps the k highest scores (ties with the k-th are kept, as Hugging Face does). */
export class TopK implements LogitsProcessor {
  constructor(readonly k: number) {
    if (!(Number.isInteger(k) && k >= 1)) throw new SamplingParamError(`top-k must be an integer ≥ 1 (or 0/unset for off); got ${k}`);
  }

  apply(scores: Float64Array): void {
    if (this.k >= scores.length) return;
    const kth = Float64Array.from(scores).sort().reverse()[this.k - 1]!;
    for (let i = 0; i < scores.length; i++) if (scores[i]! < kth) scores[i] = -Infinity;
  }
}

/**
 * Nucleus filtering: keeps the smallest set of highest-probability tokens whose probability
 * sums to ≥ p (at least one token), like Hugging Face's TopPLogitsWarper.
 */
export class TopP implements LogitsProcessor {
  constructor(readonly p: number) {
    if (!(Number.isFinite(p) && p > 0 && p <= 1)) throw new SamplingParamError(`top-p must be in (0, 1]; got ${p}`);
  }

  apply(scores: Float64Array): void {
    if (this.p >= 1) return;
    const probs = softmax(scores);
    const order = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]! || a - b);
    let cum = 0;
    let keep = 0;
    while (keep < order.length && (keep === 0 || cum < this.p)) cum += probs[order[keep++]!]!;
    for (let j = keep; j < order.length; j++) scores[order[j]!] = -Infinity;
  }
}

/** Numerically stable softmax in float64 (−Infinity → 0). */
export function softmax(scores: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < scores.length; i++) m = Math.max(m, scores[i]!);
  const out = new Float64Array(scores.length);
  let z = 0;
  for (let i = 0; i < scores.length; i++) z += out[i] = Math.exp(scores[i]! - m);
  for (let i = 0; i < out.length; i++) out[i]! /= z;
  return out;
}

/** log-softmax of one entry, in float64. */
export function logSoftmaxAt(scores: ArrayLike<number>, index: number): number {
  let m = -Infinity;
  for (let i = 0; i < scores.length; i++) m = Math.max(m, scores[i]!);
  let z = 0;
  for (let i = 0; i < scores.length; i++) z += Math.exp(scores[i]! - m);
  return scores[index]! - m - Math.log(z);
}
