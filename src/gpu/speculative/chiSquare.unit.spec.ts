import { describe, expect, it } from 'vitest';
import { chiSquareTest, logGamma, upperGammaQ } from './chiSquare.js';

describe('chiSquareTest', () => {
  it('gives textbook upper-tail probabilities', () => {
    expect(upperGammaQ(0.5, 3.841458820694124 / 2)).toBeCloseTo(0.05, 10); // df 1
    expect(upperGammaQ(5, 18.307038053275146 / 2)).toBeCloseTo(0.05, 10); // df 10
    expect(upperGammaQ(25, 86.66082 / 2)).toBeCloseTo(0.001, 6); // df 50
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 10);
  });
  it('accepts counts drawn from the distribution and rejects a biased one', () => {
    const probs = new Map([['a', 0.5], ['b', 0.3], ['c', 0.2]]);
    expect(chiSquareTest(new Map([['a', 500], ['b', 300], ['c', 200]]), probs)).toEqual({ statistic: 0, df: 2, pValue: 1 });
    expect(chiSquareTest(new Map([['a', 560], ['b', 280], ['c', 160]]), probs).pValue).toBeLessThan(1e-3);
  });
  it('pools rare cells and treats an impossible observation as p = 0', () => {
    const probs = new Map([['a', 0.993], ['b', 0.004], ['c', 0.003], ['z', 0]]);
    expect(chiSquareTest(new Map([['a', 993], ['b', 4], ['c', 3]]), probs).df).toBe(1);
    expect(chiSquareTest(new Map([['a', 999], ['z', 1]]), probs).pValue).toBe(0);
  });
});
