import { describe, expect, it } from 'vitest';
import { Xoshiro128, normal } from '../../gpu/sampling/rng.js';
import { median, medianInterval } from './stats.js';

describe('medianInterval', () => {
  it('picks the order statistics of the binomial table', () => {
    const xs = [8, 3, 5, 1, 7, 2, 6, 4]; // sorted: 1…8
    // n = 8: [x(2), x(7)] covers 1 − 2·9/256 = 0.9297; [x(3), x(6)] only 0.711
    expect(medianInterval(xs, 0.9)).toEqual({ lo: 2, hi: 7, coverage: 1 - 18 / 256 });
    expect(medianInterval(xs, 0.7)).toEqual({ lo: 3, hi: 6, coverage: 1 - 74 / 256 });
    // n = 5 at 0.9: the whole range (0.9375); n = 4: the whole range, covering only 0.875
    expect(medianInterval([5, 1, 3, 2, 4], 0.9)).toEqual({ lo: 1, hi: 5, coverage: 1 - 2 / 32 });
    expect(medianInterval([4, 1, 3, 2], 0.9)).toEqual({ lo: 1, hi: 4, coverage: 1 - 2 / 16 });
    expect(medianInterval([], 0.9).coverage).toBe(0);
  });

  it('covers the true median as often as it says (simulation, skewed draws)', () => {
    const rng = new Xoshiro128(7);
    const trials = 4000;
    for (const n of [8, 12, 20]) {
      let hits = 0;
      let claimed = 0;
      for (let t = 0; t < trials; t++) {
        // log-normal draws: the median is exp(0) = 1
        const xs = Array.from({ length: n }, () => Math.exp(0.3 * normal(rng)));
        const ci = medianInterval(xs, 0.9);
        claimed = ci.coverage;
        if (ci.lo <= 1 && 1 <= ci.hi) hits++;
      }
      // binomial sd of the hit rate ≈ 0.004: 4 sd either side of the exact coverage
      expect(Math.abs(hits / trials - claimed)).toBeLessThan(0.018);
      expect(claimed).toBeGreaterThanOrEqual(0.9);
    }
  });

  it('median is the middle value', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});
