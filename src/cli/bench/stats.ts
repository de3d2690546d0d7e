import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The median of `xs` (the mean of the middle two for an even count; NaN when empty). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * A timer that runs a full garbage collection (V8's `gc`, exposed at run time) before each timed
 * run, outside its time, and at its end, inside it: each run pays for its own garbage and not for
 * the run's before. On a CPU, plain runs right after a speculative run with a draft model (draft
 * caches, multi-position outputs: external buffers V8 frees only when it collects) took 8–12%
 * longer than plain runs after plain runs, and with a collection between runs the same
 * (docs/speculative-decoding.md, ninth session).
 */
export function collectedTimer(): <T>(run: () => Promise<T>) => Promise<{ result: T; seconds: number }> {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  if (typeof gc !== 'function') throw new Error('bench: V8 did not expose gc() (--expose-gc)');
  return async (run) => {
    (gc as () => void)();
    const t0 = performance.now();
    const result = await run();
    (gc as () => void)();
    return { result, seconds: (performance.now() - t0) / 1000 };
  };
}

/**
 * A distribution-free confidence interval for the median of the distribution `xs` were drawn
 * from (independent draws): the order statistics [x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎] with the largest j whose
 * coverage 1 − 2·P(Bin(n, ½) ≤ j − 1) is still ≥ `level` — exact for any continuous
 * distribution. With too few draws for `level` (n ≤ 4 at 0.9) it is the whole range, and
 * `coverage` says what that range covers.
 */
export function medianInterval(xs: readonly number[], level = 0.9): { lo: number; hi: number; coverage: number } {
  const n = xs.length;
  if (n === 0) return { lo: Number.NaN, hi: Number.NaN, coverage: 0 };
  const s = [...xs].sort((a, b) => a - b);
  // cdf[j] = P(Bin(n, ½) ≤ j), from the binomial coefficients (n is a benchmark's repetitions).
  const cdf: number[] = [];
  let coef = 1;
  let acc = 0;
  for (let j = 0; j <= n; j++) {
    acc += coef / 2 ** n;
    cdf.push(acc);
    coef = (coef * (n - j)) / (j + 1);
  }
  const coverageOf = (j: number) => 1 - 2 * cdf[j - 1]!;
  let j = 1;
  while (j + 1 <= n + 1 - (j + 1) && coverageOf(j + 1) >= level) j++;
  return { lo: s[j - 1]!, hi: s[n - j]!, coverage: coverageOf(j) };
}
