/**
 * Pearson's chi-square goodness-of-fit test of observed counts against exact probabilities —
 * how the end-to-end tests check that speculative sampling reproduces the target distribution.
 *
 * 1. Expected count per cell = N·prob. Cells with expected < `minExpected` are pooled into one
 *    cell (the chi-square approximation needs ≳ 5 per cell); a count in a cell of probability 0
 *    makes the statistic infinite (p-value 0).
 * 2. statistic = Σ (observed − expected)² / expected; degrees of freedom = cells − 1.
 * 3. p-value = upper tail of the chi-square distribution = Q(df/2, statistic/2) (regularized
 *    upper incomplete gamma function).
 */
export function chiSquareTest(
  observed: ReadonlyMap<string, number>,
  probs: ReadonlyMap<string, number>,
  minExpected = 5,
): { statistic: number; df: number; pValue: number } {
  let n = 0;
  for (const c of observed.values()) n += c;
  for (const [key, count] of observed) {
    if (count > 0 && !(probs.get(key)! > 0)) return { statistic: Infinity, df: 0, pValue: 0 };
  }
  let statistic = 0;
  let cells = 0;
  let pooledObs = 0;
  let pooledExp = 0;
  for (const [key, p] of probs) {
    const e = n * p;
    const o = observed.get(key) ?? 0;
    if (e < minExpected) {
      pooledObs += o;
      pooledExp += e;
      continue;
    }
    statistic += ((o - e) * (o - e)) / e;
    cells++;
  }
  if (pooledExp > 0) {
    statistic += ((pooledObs - pooledExp) * (pooledObs - pooledExp)) / pooledExp;
    cells++;
  }
  const df = Math.max(1, cells - 1);
  return { statistic, df, pValue: upperGammaQ(df / 2, statistic / 2) };
}

/** Regularized upper incomplete gamma Q(a, x) (Numerical Recipes: series for x < a+1, else continued fraction). */
export function upperGammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  if (!Number.isFinite(x)) return 0;
  const lnPrefix = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(lnPrefix);
  }
  // Lentz's continued fraction.
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(lnPrefix) * h;
}

/** ln Γ(z) (Lanczos, g = 7). */
export function logGamma(z: number): number {
  const g = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  z -= 1;
  let x = g[0]!;
  for (let i = 1; i < 9; i++) x += g[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}
