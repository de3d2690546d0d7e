import type { Rng } from './rng.js';
import type { LogitsProcessor } from './processors.js';
import { SamplingParamError, Temperature, TopK, TopP, logSoftmaxAt, softmax } from './processors.js';

/** Sampling settings of a request. temperature 0 = greedy; topK 0 and topP 1 = off. */
export interface SamplingParams {
  readonly temperature: number;
  readonly topK?: number;
  readonly topP?: number;
}

export const GREEDY: SamplingParams = { temperature: 0 };

/** The processors a params object stands for (empty for greedy). Validates the params. */
export function processorsFor(params: SamplingParams): LogitsProcessor[] {
  const { temperature, topK = 0, topP = 1 } = params;
  if (!(Number.isFinite(temperature) && temperature >= 0)) throw new SamplingParamError(`temperature must be ≥ 0 (0 = greedy); got ${temperature}`);
  if (temperature === 0) return [];
  const out: LogitsProcessor[] = [new Temperature(temperature)];
  if (topK !== 0) out.push(new TopK(topK));
  if (topP !== 1) out.push(new TopP(topP));
  return out;
}

function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/**
 * The distribution a token is drawn from for one logits row: softmax of the processed scores
 * (temperature, then top-k, then top-p; filtered tokens get probability 0). For greedy
 * (temperature 0) it is the point mass on the argmax (lowest index on ties). This is the p / q
 * that speculative decoding compares.
 */
export function processedProbs(logits: ArrayLike<number>, params: SamplingParams): Float64Array {
  const procs = processorsFor(params);
  if (procs.length === 0) {
    const p = new Float64Array(logits.length);
    p[argmax(logits)] = 1;
    return p;
  }
  const scores = Float64Array.from(logits as ArrayLike<number>);
  for (const proc of procs) proc.apply(scores);
  return softmax(scores);
}

/** Draws an index from a probability vector by inverse CDF with one uniform from `rng`. */
export function sampleFrom(probs: ArrayLike<number>, rng: Rng): number {
  const u = rng.next();
  let cum = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i]! <= 0) continue;
    cum += probs[i]!;
    last = i;
    if (u < cum) return i;
  }
  if (last < 0) throw new Error('sampleFrom: the distribution has no positive entry');
  return last; // rounding: cum ended slightly below 1
}

export interface SampledToken {
  readonly token: number;
  /**
   * log-probability of the token under the distribution it was sampled from (log-softmax
   * after temperature/top-k/top-p renormalisation); for greedy, the log-softmax of the raw
   * logits — what Hugging Face and vLLM report.
   */
  readonly logprob: number;
}

/**
 * Samples one token from a logits row.
 * 1. Greedy (temperature 0): argmax, logprob = log-softmax(raw logits)[token]; no draw.
 * 2. Otherwise: p = processedProbs(logits, params); token ~ p with one draw; logprob = log p[token].
 */
export function sampleToken(logits: ArrayLike<number>, params: SamplingParams, rng: Rng): SampledToken {
  if (params.temperature === 0) {
    processorsFor(params);
    const token = argmax(logits);
    return { token, logprob: logSoftmaxAt(logits, token) };
  }
  const p = processedProbs(logits, params);
  const token = sampleFrom(p, rng);
  return { token, logprob: Math.log(p[token]!) };
}
