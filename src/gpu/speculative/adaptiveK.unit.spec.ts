import { describe, expect, it } from 'vitest';
import { AdaptiveK, bucketOf, theoreticalSpeedup } from './adaptiveK.js';

/** Feeds `rounds` rounds of a synthetic system: verify cost a + b·T, draft cost d per step, i.i.d. acceptance α. */
function simulate(ak: AdaptiveK, batch: number, cost: { a: number; b: number; d: number }, alpha: number, rounds: number): number[] {
  const chosen: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const k = ak.choose(batch);
    chosen.push(k);
    ak.observeRound({ batchSize: batch, k, tokensPerRow: k + 1, verifySeconds: cost.a + cost.b * (k + 1), draftSeconds: k * cost.d });
    // Deterministic "expected" acceptance: accepted = the first i positions with α^(i+1) ≥ fraction.
    for (let s = 0; s < 10; s++) {
      let accepted = 0;
      const u = (s + 0.5) / 10;
      while (accepted < k && alpha ** (accepted + 1) > u) accepted++;
      ak.observeAcceptance(k, accepted);
    }
  }
  return chosen;
}

describe('theoreticalSpeedup', () => {
  it('follows S = (1 − α^(k+1)) / ((1 − α)(kc + 1))', () => {
    expect(theoreticalSpeedup(0.8, 0.1, 4)).toBeCloseTo((1 - 0.8 ** 5) / (0.2 * 1.4), 12);
    expect(theoreticalSpeedup(1, 0.5, 3)).toBeCloseTo(4 / 2.5, 12);
    expect(theoreticalSpeedup(0.3, 0.2, 0)).toBe(1);
  });
});

describe('AdaptiveK', () => {
  it('explores k = min(kMax, 3) then k = 0 at a new batch size, then exploits', () => {
    const ak = new AdaptiveK({ kMax: 5 });
    const chosen = simulate(ak, 1, { a: 1, b: 0.01, d: 0.01 }, 0.9, 6);
    expect(chosen.slice(0, 2)).toEqual([3, 0]);
    expect(chosen[5]).toBe(5);
  });
  it('estimates a cost by the median of recent samples: contention spikes do not make it give up', () => {
    const ak = new AdaptiveK({ kMax: 4 });
    for (const [k, sec] of [[3, 1.0], [0, 0.9], [3, 5.0], [0, 4.0], [0, 1.1]] as const) {
      ak.observeRound({ batchSize: 1, k, tokensPerRow: k + 1, verifySeconds: sec, draftSeconds: 0 });
    }
    // Lower medians: the spikes to 5.0 and 4.0 are ignored.
    expect(ak.expectedCost(1, 0)).toBeCloseTo(1.1, 9);
    expect(ak.expectedCost(1, 3)).toBeCloseTo(1.0, 9);
  });
  it('drafts long when verification is nearly free and acceptance high (small batch)', () => {
    const ak = new AdaptiveK({ kMax: 6 });
    simulate(ak, 1, { a: 1, b: 0.01, d: 0.02 }, 0.85, 30);
    const k = ak.bestK(1);
    // The brute-force optimum of E(k)/C(k) under the same model.
    let best = 0;
    let bestRate = (ak.expectedTokens(0) / (1 + 0.01)) * 1.1; // k ≥ 1 must beat plain by 10%
    for (let kk = 1; kk <= 6; kk++) {
      const rate = ak.expectedTokens(kk) / (1 + 0.01 * (kk + 1) + 0.02 * kk);
      if (rate > bestRate) [best, bestRate] = [kk, rate];
    }
    expect(k).toBe(best);
    expect(k).toBeGreaterThanOrEqual(4);
  });
  it('turns speculation off when verification cost grows with T (large batch) and acceptance is low', () => {
    const ak = new AdaptiveK({ kMax: 6, probeEvery: 1000 });
    const chosen = simulate(ak, 64, { a: 0.1, b: 1, d: 0.05 }, 0.4, 40);
    // Off, apart from the k = 1 probes after 8, 16, … rounds.
    expect(chosen.slice(2).filter((k) => k !== 0)).toEqual([1, 1]);
  });
  it('keeps separate cost tables per batch-size bucket', () => {
    const ak = new AdaptiveK({ kMax: 4, probeEvery: 1000 });
    simulate(ak, 64, { a: 0.1, b: 1, d: 0.05 }, 0.5, 5);
    expect(ak.bestK(64)).toBe(0);
    expect(ak.choose(1)).toBe(3); // new bucket: explores
    expect(bucketOf(1)).toBe(0);
    expect(bucketOf(33)).toBe(bucketOf(64));
    expect(bucketOf(65)).not.toBe(bucketOf(64));
  });
  it('keeps speculation off when it is predicted to gain less than minGain', () => {
    // E(1) = 1 + r0 ≈ 1.08 tokens for 1.0 → 1.0 + 0 s: +8% predicted, below the 10% bar.
    const feed = (ak: AdaptiveK) => {
      for (let s = 0; s < 1000; s++) ak.observeAcceptance(1, s % 25 < 2 ? 1 : 0);
      ak.observeRound({ batchSize: 4, k: 1, tokensPerRow: 2, verifySeconds: 1, draftSeconds: 0 });
      ak.observeRound({ batchSize: 4, k: 0, tokensPerRow: 1, verifySeconds: 1, draftSeconds: 0 });
      return ak;
    };
    const ak = feed(new AdaptiveK({ kMax: 1, decay: 1 }));
    expect(ak.expectedTokens(1)).toBeCloseTo(1.08, 2);
    expect(ak.bestK(4)).toBe(0);
    expect(feed(new AdaptiveK({ kMax: 1, decay: 1, minGain: 0 })).bestK(4)).toBe(1);
  });
  it('probes with k = 1 while speculation is off, after 8, 16, … rounds (at most probeEvery)', () => {
    const ak = new AdaptiveK({ kMax: 4, probeEvery: 20 });
    const chosen = simulate(ak, 64, { a: 0.1, b: 1, d: 0.05 }, 0.3, 2 + 8 + 16 + 20 + 20);
    const probes = chosen.flatMap((k, i) => (i >= 2 && k === 1 ? [i - 2] : []));
    expect(probes).toEqual([7, 23, 43, 63]);
  });
  it('interpolates verify costs piecewise between measured T (a CPU jumps from T = 1 to T = 2)', () => {
    const ak = new AdaptiveK({ kMax: 6 });
    for (const [T, sec] of [[1, 1.0], [4, 1.3], [2, 1.25]] as const) {
      ak.observeRound({ batchSize: 1, k: T - 1, tokensPerRow: T, verifySeconds: sec, draftSeconds: 0 });
    }
    expect(ak.expectedCost(1, 2)).toBeCloseTo(1.275, 9); // T = 3: between T = 2 and T = 4
    expect(ak.expectedCost(1, 4)).toBeCloseTo(1.325, 9); // T = 5: extrapolated from T = 2, 4
    expect(ak.expectedCost(1, 1)).toBeCloseTo(1.25, 9); // measured
  });
  it('estimates acceptance per position, blended with a weak prior (0.5, then 0.9·r_{i−1})', () => {
    const ak = new AdaptiveK({ kMax: 4, decay: 1 }); // decay 1: plain running means
    expect(ak.acceptanceAt(0)).toBe(0.5);
    for (let s = 0; s < 100; s++) ak.observeAcceptance(2, s < 80 ? (s < 64 ? 2 : 1) : 0);
    const r0 = (100 * 0.8 + 2 * 0.5) / 102;
    const r1 = (100 * 0.64 + 2 * 0.9 * r0) / 102;
    expect(ak.acceptanceAt(0)).toBeCloseTo(r0, 12);
    expect(ak.acceptanceAt(1)).toBeCloseTo(r1, 12);
    expect(ak.acceptanceAt(2)).toBeCloseTo(0.9 * r1, 12); // unmeasured
    expect(ak.expectedTokens(2)).toBeCloseTo(1 + r0 + r1, 12);
    // One unlucky round does not pin a position at 0.
    const fresh = new AdaptiveK({ kMax: 4 });
    fresh.observeAcceptance(3, 0);
    expect(fresh.acceptanceAt(0)).toBeCloseTo(1 / 3, 12);
  });
});
