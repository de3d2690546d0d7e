import { describe, expect, it, vi } from 'vitest';
import { Xoshiro128 } from '../sampling/rng.js';
import { AdaptiveK, bucketOf, cacheLead, frontierTokens, measuredSeconds, theoreticalSpeedup } from './adaptiveK.js';
import { meanRowSpeedup } from './rowSimulation.js';

/**
 * A synthetic system: a round with draft length k costs `seconds(k)` and, with i.i.d. per-token
 * acceptance α, emits E(k) = (1 − α^(k+1)) / (1 − α) tokens per row (exactly: a deterministic
 * stand-in for the mean). Acceptance is fed per sequence as the first positions with
 * α^(i+1) > u for 10 evenly spread u.
 */
interface System {
  readonly seconds: (k: number) => number;
  readonly alpha: number;
  readonly batch: number;
}

/** [start, length] of each run of k = 0 in `chosen`. */
function zeroRuns(chosen: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  chosen.forEach((k, i) => {
    if (k !== 0) return;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === i) last[1]++;
    else runs.push([i, 1]);
  });
  return runs;
}

const tokensAt = (alpha: number, k: number) => (alpha >= 1 ? k + 1 : (1 - alpha ** (k + 1)) / (1 - alpha));

function simulate(ak: AdaptiveK, sys: System, rounds: number, onRound?: (k: number, r: number) => void) {
  const chosen: number[] = [];
  let seconds = 0;
  let tokens = 0;
  for (let r = 0; r < rounds; r++) {
    const k = ak.choose(sys.batch);
    chosen.push(k);
    for (let s = 0; s < 10; s++) {
      let accepted = 0;
      const u = (s + 0.5) / 10;
      while (accepted < k && sys.alpha ** (accepted + 1) > u) accepted++;
      ak.observeAcceptance(k, accepted);
    }
    const sec = sys.seconds(k);
    const emitted = sys.batch * tokensAt(sys.alpha, k);
    ak.observeRound({ batchSize: sys.batch, k, tokensPerRow: emitted / sys.batch, seconds: sec });
    seconds += sec;
    tokens += emitted;
    onRound?.(k, r);
  }
  const plainRate = (sys.batch * tokensAt(sys.alpha, 0)) / sys.seconds(0);
  return { chosen, rate: tokens / seconds, speedup: tokens / seconds / plainRate };
}

/** GPU at batch 1: verifying k + 1 positions costs about as much as one; a cheap draft. */
const gpuSmall = (alpha: number): System => ({ seconds: (k) => 1 + 0.01 * k + 0.05 * k, alpha, batch: 1 });
/** CPU at batch 64: going from 1 to 2 positions costs 80% more, each further one 30%; draft 0.3 per step. */
const cpuLarge = (alpha: number): System => ({ seconds: (k) => (k === 0 ? 1 : 1.8 + 0.3 * (k - 1) + 0.3 * k), alpha, batch: 64 });

describe('theoreticalSpeedup', () => {
  it('follows S = (1 − α^(k+1)) / ((1 − α)(kc + 1))', () => {
    expect(theoreticalSpeedup(0.8, 0.1, 4)).toBeCloseTo((1 - 0.8 ** 5) / (0.2 * 1.4), 12);
    expect(theoreticalSpeedup(1, 0.5, 3)).toBeCloseTo(4 / 2.5, 12);
    expect(theoreticalSpeedup(0.3, 0.2, 0)).toBe(1);
  });
});

describe('AdaptiveK', () => {
  it('measures k = 0 first at a new batch size (2 rounds), then explores k = 1 (2 rounds: the first after a switch is no sample)', () => {
    const ak = new AdaptiveK({ kMax: 6 });
    const { chosen } = simulate(ak, gpuSmall(0.9), 4);
    expect(chosen).toEqual([0, 0, 1, 1]);
    expect(ak.measuredRate(1, 1)).toBeCloseTo(1.9 / 1.06, 9); // one steady sample
  });

  it('drafts long where it measures faster (cheap verification, high acceptance) and gets close to the best fixed k', () => {
    const ak = new AdaptiveK({ kMax: 6 });
    const sys = gpuSmall(0.9);
    const { chosen, rate } = simulate(ak, sys, 300);
    // The best fixed k of this system, by brute force.
    const bestFixed = Math.max(...[0, 1, 2, 3, 4, 5, 6].map((k) => tokensAt(0.9, k) / sys.seconds(k)));
    expect(ak.bestK(1)).toBeGreaterThanOrEqual(5);
    expect(chosen.slice(-50).filter((k) => k >= 5).length).toBeGreaterThanOrEqual(42); // the rest: k = 0 refreshes
    expect(rate / bestFixed).toBeGreaterThan(0.9);
  });

  it('stays at ≥ 0.97× plain decoding when every k ≥ 1 measures slower (CPU, large batch), at any acceptance', () => {
    for (const alpha of [0, 0.3, 0.6, 0.75]) {
      const ak = new AdaptiveK({ kMax: 6 });
      const { chosen, speedup } = simulate(ak, cpuLarge(alpha), 200);
      expect(speedup).toBeGreaterThanOrEqual(0.97);
      expect(ak.bestK(64)).toBe(0);
      expect(chosen.slice(100).filter((k) => k > 0).length).toBeLessThanOrEqual(3);
    }
  });

  it('keeps the exploration ledger within its budget after every round', () => {
    const ak = new AdaptiveK({ kMax: 6, exploreBudget: 0.015 });
    const sys = cpuLarge(0);
    const worstRound = Math.max(...[1, 2, 3, 4, 5, 6].map((k) => sys.seconds(k) - sys.seconds(0)));
    simulate(ak, sys, 300, () => {
      expect(ak.lossSeconds).toBeLessThanOrEqual(0.015 * ak.elapsedSeconds + sys.seconds(0) + worstRound);
    });
    expect(ak.lossSeconds).toBeGreaterThan(0); // it did explore
  });

  it('falls back to k = 0 when speculation stops paying (the policy drifted away from the draft)', () => {
    const ak = new AdaptiveK({ kMax: 4, decay: 0.9 });
    simulate(ak, gpuSmall(0.9), 100);
    expect(ak.bestK(1)).toBeGreaterThan(0);
    // Acceptance collapses; a draft step now costs as much as a target step.
    const { chosen } = simulate(ak, { seconds: (k) => 1 + 1.0 * k, alpha: 0, batch: 1 }, 60);
    expect(ak.bestK(1)).toBe(0);
    expect(chosen.slice(-30).filter((k) => k > 0).length).toBeLessThanOrEqual(2); // at most one 2-round probe
  });

  it('re-measures k = 0 (3 rounds) every refreshEvery rounds while speculation wins narrowly', () => {
    // k = 1 wins by 10.7% (1.55 tokens for 1.4 plain rounds); k = 2 by 3%.
    const ak = new AdaptiveK({ kMax: 4, refreshEvery: 10 });
    const { chosen } = simulate(ak, { seconds: (k) => 1 + 0.4 * k, alpha: 0.55, batch: 1 }, 160);
    expect(ak.bestK(1)).toBe(1);
    const runs = zeroRuns(chosen).filter(([start]) => start >= 60);
    expect(runs.length).toBeGreaterThanOrEqual(5);
    expect(runs.every(([, length]) => length === 3)).toBe(true);
    for (let i = 1; i < runs.length; i++) expect(runs[i]![0] - runs[i - 1]![0]).toBe(13);
  });

  it('refreshes k = 0 2× less often at a ≥ 20% margin, 4× less at ≥ 40%', () => {
    // margin 265%: every 4 · 10 rounds of speculation (+ 3 refresh rounds)
    const wide = simulate(new AdaptiveK({ kMax: 4, refreshEvery: 10 }), gpuSmall(0.95), 300);
    const wideRuns = zeroRuns(wide.chosen).filter(([start]) => start >= 60);
    expect(wideRuns.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < wideRuns.length; i++) expect(wideRuns[i]![0] - wideRuns[i - 1]![0]).toBe(43);
    // margin 30% (k = 1: 1.5 tokens for 1.15 plain rounds; longer k win less): every 2 · 10
    const mid = new AdaptiveK({ kMax: 2, refreshEvery: 10 });
    const { chosen } = simulate(mid, { seconds: (k) => 1 + 0.15 * k + (k > 1 ? 0.5 : 0), alpha: 0.5, batch: 1 }, 200);
    expect(mid.bestK(1)).toBe(1);
    const runs = zeroRuns(chosen).filter(([start]) => start >= 60);
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < runs.length; i++) expect(runs[i]![0] - runs[i - 1]![0]).toBe(23);
  });

  it('probes k = 1 while k = 0 wins, after 16, 32, … rounds (at most probeEvery), within budget', () => {
    const ak = new AdaptiveK({ kMax: 4, probeEvery: 32, exploreBudget: 1 });
    const { chosen } = simulate(ak, cpuLarge(0), 200);
    const spec = chosen.flatMap((k, i) => (k > 0 ? [i] : []));
    // The first exploration right after the 2 plain rounds, then probes after 16, 32, 32, …
    // plain rounds; each runs 2 rounds of k = 1.
    expect(spec.every((i) => chosen[i] === 1)).toBe(true);
    const starts = spec.filter((_, j) => j % 2 === 0);
    expect(spec.filter((_, j) => j % 2 === 1)).toEqual(starts.map((i) => i + 1));
    expect(starts[0]).toBe(2);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(18);
    expect(starts.slice(2, 5).map((p, i) => p - starts[i + 1]!)).toEqual([34, 34, 34]);
  });

  it('with shadow drafts (a free drafter measured at k = 0): no blind probes once k ≥ 1 has a cost; speculates again when acceptance returns', () => {
    // GPU at batch 1: speculation pays at α = 0.9 and loses at α = 0. The drafter matches
    // nothing for 300 rounds, then 90% per position; at k = 0 rounds its shadow drafts say so.
    const ak = new AdaptiveK({ kMax: 4 });
    const sys = gpuSmall(0);
    const chosen: number[] = [];
    for (let r = 0; r < 600; r++) {
      const alpha = r < 300 ? 0 : 0.9;
      const k = ak.choose(1);
      chosen.push(k);
      for (let s = 0; s < 10; s++) {
        const u = (s + 0.5) / 10;
        let accepted = 0;
        while (accepted < (k === 0 ? 4 : k) && alpha ** (accepted + 1) > u) accepted++;
        if (k === 0) ak.observeShadow(4, accepted);
        else ak.observeAcceptance(k, accepted);
      }
      ak.observeRound({ batchSize: 1, k, tokensPerRow: tokensAt(alpha, k), seconds: sys.seconds(k) });
    }
    const spec = chosen.flatMap((k, i) => (k > 0 ? [i] : []));
    // the first exploration (k = 1 right after 2 plain rounds, until its arm has 3 samples),
    // then nothing until α returns
    expect(spec.filter((i) => i < 300)).toEqual([2, 3, 4, 5]);
    const back = spec.find((i) => i >= 300)!;
    expect(back).toBeLessThan(300 + 70); // the k = 1 arm went stale: explored on the shadows' prediction
    expect(chosen.slice(back + 20, 600).filter((k) => k >= 3).length).toBeGreaterThan(0.8 * (600 - back - 20));
  });

  it('batch 1 with noisy rounds (a drafter proposing in a quarter of them): finds the ~10% win from the pooled acceptance', () => {
    // CPU-like costs (1 + 0.03k) and an n-gram-like drafter: a proposal in 25% of the rounds,
    // accepted per position with 0.5. Every k ≥ 1 wins 9–12% on average, but a round emits either
    // 1 token (75%) or more: one round says little. Shadow drafts report the same distribution.
    const rng = new Xoshiro128(5);
    const draw = (k: number) => {
      if (rng.next() >= 0.25) return 0;
      let a = 0;
      while (a < k && rng.next() < 0.5) a++;
      return a;
    };
    const ak = new AdaptiveK({ kMax: 4 });
    let seconds = 0;
    let tokens = 0;
    let spec = 0;
    for (let r = 0; r < 800; r++) {
      const k = ak.choose(1);
      const accepted = draw(k === 0 ? 4 : k);
      if (k === 0) ak.observeShadow(4, accepted);
      else ak.observeAcceptance(k, accepted);
      const emitted = k === 0 ? 1 : 1 + accepted;
      const sec = 1 + 0.03 * k;
      ak.observeRound({ batchSize: 1, k, tokensPerRow: emitted, seconds: sec });
      seconds += sec;
      tokens += emitted;
      if (k > 0) spec++;
    }
    expect(spec).toBeGreaterThan(0.7 * 800);
    expect(tokens / seconds).toBeGreaterThan(1.05); // plain: 1 token per second
  });

  it('is not switched on by contention spikes in plain rounds', () => {
    const ak = new AdaptiveK({ kMax: 4 });
    // Plain costs 1 s, but every 5th plain round another process takes the cores (6 s).
    let plainRounds = 0;
    const spiky: System = { seconds: (k) => (k === 0 ? (++plainRounds % 5 === 0 ? 6 : 1) : 1.8 + 0.6 * k), alpha: 0.3, batch: 8 };
    simulate(ak, spiky, 120);
    expect(ak.bestK(8)).toBe(0);
    expect(ak.measuredRate(8, 0)).toBeCloseTo(1, 9);
  });

  it('turns off speculation that only looked faster because plain was measured under load', () => {
    const ak = new AdaptiveK({ kMax: 2 });
    // Plain costs 2 s while another process holds the cores (the first 20 s), then 1 s; k ≥ 1
    // costs 1.5 s and yields 1.2 tokens: a loss against the true plain rate.
    let clock = 0;
    const loaded: System = {
      seconds: (k) => {
        const s = k === 0 ? (clock < 20 ? 2 : 1) : 1.5 + 0.01 * k;
        clock += s;
        return s;
      },
      alpha: 0.2,
      batch: 4,
    };
    const { chosen } = simulate(ak, loaded, 200);
    expect(chosen.slice(0, 40).some((k) => k > 0)).toBe(true); // it was fooled at first
    // The first refresh (after refreshEvery rounds, whatever the margin) re-measures plain.
    expect(chosen.slice(-60).filter((k) => k > 0).length).toBeLessThanOrEqual(4); // two 2-round probes at most
    expect(ak.bestK(4)).toBe(0);
  });

  it('keeps separate measurements per batch-size bucket', () => {
    const ak = new AdaptiveK({ kMax: 4 });
    simulate(ak, cpuLarge(0.5), 60);
    expect(ak.bestK(64)).toBe(0);
    expect(ak.choose(1)).toBe(0); // new bucket: plain first
    expect(ak.measuredRate(1, 0)).toBeUndefined();
    expect(bucketOf(1)).toBe(0);
    expect(bucketOf(33)).toBe(bucketOf(64));
    expect(bucketOf(65)).not.toBe(bucketOf(64));
  });

  it('measures a rate as tokens per row per second over the recent window', () => {
    const ak = new AdaptiveK({ kMax: 2, window: 3 });
    for (const [k, tokensPerRow, seconds] of [[0, 1, 2], [0, 1, 1], [0, 1, 1], [0, 1, 1], [2, 9, 9], [2, 2, 1], [2, 3, 2]] as const) {
      ak.observeRound({ batchSize: 4, k, tokensPerRow, seconds });
    }
    expect(ak.measuredRate(4, 0)).toBeCloseTo(1, 12); // the 2 s round left the window
    expect(ak.measuredRate(4, 2)).toBeCloseTo(5 / 3, 12); // the round after the switch is no sample
    expect(ak.measuredRate(4, 1)).toBeUndefined();
  });

  it('interpolates round costs between measured k; past the longest, extrapolates at the steeper of the last slope and the mean slope from k = 0', () => {
    const ak = new AdaptiveK({ kMax: 6 });
    for (const [k, sec] of [[0, 1.0], [1, 1.5], [4, 2.1]] as const) {
      for (let r = 0; r < 2; r++) ak.observeRound({ batchSize: 1, k, tokensPerRow: 1, seconds: sec });
    }
    expect(ak.expectedCost(1, 2)).toBeCloseTo(1.7, 9);
    // past k = 4: the steeper of the last segment (0.2 per k) and the mean slope from k = 0 (0.275)
    expect(ak.expectedCost(1, 6)).toBeCloseTo(2.65, 9);
    expect(ak.expectedCost(1, 1)).toBeCloseTo(1.5, 9);
    // CPU, batch 8: k = 2 and 3 measured alike (noise) — k = 6 is not priced like k = 3
    const cpu = new AdaptiveK({ kMax: 6 });
    for (const [k, sec] of [[0, 1.0], [1, 1.8], [2, 1.85], [3, 1.85]] as const) {
      for (let r = 0; r < 2; r++) cpu.observeRound({ batchSize: 8, k, tokensPerRow: 1, seconds: sec });
    }
    expect(cpu.expectedCost(8, 6)).toBeCloseTo(1.85 + 3 * (0.85 / 3), 9);
  });

  it('estimates acceptance per position as conditional rates, each blended with a weak prior (0.5, then 0.9)', () => {
    const ak = new AdaptiveK({ kMax: 4, decay: 1 }); // decay 1: plain running means
    expect(ak.acceptanceAt(0)).toBe(0.5);
    expect(ak.acceptanceAt(1)).toBeCloseTo(0.45, 12);
    for (let s = 0; s < 100; s++) ak.observeAcceptance(2, s < 80 ? (s < 64 ? 2 : 1) : 0);
    // position 0: 80 of 100; position 1 given position 0 accepted: 64 of 80
    const r0 = (100 * 0.8 + 2 * 0.5) / 102;
    const r1 = r0 * ((80 * 0.8 + 2 * 0.9) / 82);
    expect(ak.acceptanceAt(0)).toBeCloseTo(r0, 12);
    expect(ak.acceptanceAt(1)).toBeCloseTo(r1, 12);
    expect(ak.acceptanceAt(2)).toBeCloseTo(0.9 * r1, 12); // unmeasured
    expect(ak.expectedTokens(2)).toBeCloseTo(1 + r0 + r1, 12);
    const fresh = new AdaptiveK({ kMax: 4 });
    fresh.observeAcceptance(3, 0);
    expect(fresh.acceptanceAt(0)).toBeCloseTo(1 / 3, 12);
    expect(fresh.acceptanceAt(1)).toBeCloseTo(0.9 / 3, 12); // position 1 was not judged
  });

  it('a k = 1 probe moves the deeper positions with position 0 (conditional rates)', () => {
    const ak = new AdaptiveK({ kMax: 4, decay: 0.98 });
    // a hard sequence: nothing accepted at k = 4 …
    for (let s = 0; s < 100; s++) ak.observeAcceptance(4, 0);
    const low = ak.acceptanceAt(2);
    // … then k = 1 probes accept 80%: deeper positions follow, at the conditional rates measured
    for (let s = 0; s < 100; s++) ak.observeAcceptance(1, s % 5 < 4 ? 1 : 0);
    expect(ak.acceptanceAt(0)).toBeGreaterThan(0.65);
    expect(ak.acceptanceAt(2)).toBeGreaterThan(10 * low);
    expect(ak.acceptanceAt(2)).toBeCloseTo(ak.acceptanceAt(0) * 0.9 * 0.9, 12);
  });

  /**
   * One wave of 64 requests of lengths 64, 65, …, 127 (plain rounds: every row emits one token
   * per round; speculative rounds emit E(k) for the critical row). The batch shrinks 64 → 1 and
   * passes through buckets 64, 32, …, 1. A round costs `fixed + perCell · rows · (k + 1) + draft · k`.
   */
  function shrinkingWave(ak: AdaptiveK, alpha: number, fixed: number, perCell: number, draft: number) {
    const lengths = Array.from({ length: 64 }, (_, i) => 64 + i);
    const done = lengths.map(() => 0);
    const chosenPerBucket = new Map<number, number[]>();
    let seconds = 0;
    let plainSeconds = 0;
    for (let t = 0; t < 128; t++) plainSeconds += fixed + perCell * lengths.filter((n) => n > t).length;
    const cost = (rows: number, k: number) => fixed + perCell * rows * (k + 1) + draft * k;
    for (let guard = 0; guard < 1000; guard++) {
      const rows = lengths.filter((n, i) => done[i]! < n).length;
      if (rows === 0) break;
      const k = ak.choose(rows);
      const emitted = tokensAt(alpha, k);
      for (let s = 0; s < 10; s++) {
        let accepted = 0;
        const u = (s + 0.5) / 10;
        while (accepted < k && alpha ** (accepted + 1) > u) accepted++;
        ak.observeAcceptance(k, accepted);
      }
      // Deterministic stand-in: every live row advances by E(k) tokens (the mean), capped at its length.
      lengths.forEach((n, i) => (done[i] = Math.min(n, done[i]! + emitted)));
      const sec = cost(rows, k);
      ak.observeRound({ batchSize: rows, k, tokensPerRow: emitted, seconds: sec });
      seconds += sec;
      const list = chosenPerBucket.get(bucketOf(rows)) ?? [];
      chosenPerBucket.set(bucketOf(rows), [...list, k]);
    }
    return { chosenPerBucket, speedup: plainSeconds / seconds };
  }

  it('a shrinking batch where verification grows with rows × positions: explores in the first bucket only, ≥ 0.97× plain', () => {
    const ak = new AdaptiveK({ kMax: 6 });
    // α = 0.6: E(1) = 1.6 tokens. A k = 1 round costs 2.0× a plain one at 64 rows, 1.6× at 4,
    // 1.56× at 2: speculation pays at no batch size of 2 rows or more.
    const { chosenPerBucket, speedup } = shrinkingWave(ak, 0.6, 0.2, 0.0125, 0.1);
    expect(chosenPerBucket.get(6)!.some((k) => k > 0)).toBe(true); // it did look at 64
    expect(ak.bestK(64)).toBe(0);
    for (const b of [5, 4, 3, 2]) expect(chosenPerBucket.get(b)!.filter((k) => k > 0)).toEqual([]);
    expect(speedup).toBeGreaterThanOrEqual(0.97);
  });

  it('a shrinking batch where speculation pays: still speculates in the later buckets, from borrowed evidence', () => {
    const ak = new AdaptiveK({ kMax: 6 });
    // Verification nearly free per position (memory-bound), cheap draft, α = 0.9.
    const { chosenPerBucket, speedup } = shrinkingWave(ak, 0.9, 1, 0.0005, 0.02);
    expect(ak.bestK(64)).toBeGreaterThan(0);
    for (const b of [5, 4]) {
      const ks = chosenPerBucket.get(b)!;
      // k = 0 only for the bucket's 2 measuring rounds; then the predicted best k at once.
      expect(ks.slice(0, 2)).toEqual([0, 0]);
      expect(ks[2]).toBeGreaterThanOrEqual(3);
    }
    expect(speedup).toBeGreaterThan(1.5);
  });

  it('predicts a new bucket\'s round costs from the relative costs of the nearest measured buckets', () => {
    const ak = new AdaptiveK({ kMax: 4 });
    const feed = (batchSize: number, k: number, seconds: number) => {
      for (let r = 0; r < 2; r++) ak.observeRound({ batchSize, k, tokensPerRow: 1, seconds });
    };
    feed(64, 0, 2); // bucket 6: ρ(1) = 1.8, ρ(2) = 2.6
    feed(64, 1, 3.6);
    feed(64, 2, 5.2);
    feed(4, 0, 1); // bucket 2: ρ(1) = 1.2, ρ(2) = 1.4
    feed(4, 1, 1.2);
    feed(4, 2, 1.4);
    feed(16, 0, 1.5); // bucket 4, plain only: ρ halfway
    expect(ak.predictedCost(16, 1)).toBeCloseTo(1.5 * 1.5, 9);
    expect(ak.predictedCost(16, 2)).toBeCloseTo(1.5 * 2.0, 9);
    feed(128, 0, 4); // bucket 7, above all: the nearest one's ρ
    expect(ak.predictedCost(128, 1)).toBeCloseTo(4 * 1.8, 9);
    feed(1, 0, 0.5); // bucket 0, below all
    expect(ak.predictedCost(1, 2)).toBeCloseTo(0.5 * 1.4, 9);
    expect(ak.predictedCost(4, 2)).toBeCloseTo(1.4, 9); // its own measurement wins
    expect(ak.predictedCost(8, 1)).toBeUndefined(); // no plain rounds there yet
  });

  it('starts a bucket larger than every measured one at k = 0 when the largest found k = 0 best', () => {
    const ak = new AdaptiveK({ kMax: 4, exploreBudget: 1 }); // budget no limit: the evidence decides
    simulate(ak, cpuLarge(0.5), 60); // bucket 64: k = 0 wins
    const bigger: System = { ...cpuLarge(0.5), batch: 128 };
    const { chosen } = simulate(ak, bigger, 16);
    expect(chosen.every((k) => k === 0)).toBe(true);
  });

  it('prices the first late catch-up from the admission prefill when the first probes had nothing to catch up on', () => {
    // CPU, batch 8, draft model prefilled at admission (20 tokens per row in 20 × 0.05 units):
    // k = 1 loses (1.6 units for 1.3 tokens: probed every probeEvery rounds), and a switch in
    // costs 0.05 units per token missed. The first probes catch up on 2 tokens and teach no
    // catch-up cost; without the prefill's, the first late probe (~28 tokens missed, 3 plain
    // rounds) is priced as free.
    const run = (seeded: boolean) => {
      const ak = new AdaptiveK({ kMax: 1 });
      if (seeded) ak.observeCatchUp(8, 20, 20 * 0.05);
      let seconds = 0;
      let tokens = 0;
      let last = 0;
      let length = 21;
      let drafted = 21; // prefilled at admission
      const switchCosts: number[] = [];
      for (let r = 0; r < 600; r++) {
        const missed = length - drafted;
        const k = ak.choose(8, missed);
        for (let s = 0; s < 8; s++) ak.observeAcceptance(k, k > 0 && s < 3 ? 1 : 0);
        const sec = k === 0 ? 1 : 1.6 + (last === 0 ? 0.05 * missed : 0);
        if (k > 0 && last === 0) switchCosts.push(sec);
        const tok = k === 0 ? 1 : 1.3;
        if (k > 0) drafted = length;
        ak.observeRound({ batchSize: 8, k, tokensPerRow: tok, seconds: sec, ...(k > 0 ? { catchUp: missed } : {}) });
        seconds += sec;
        tokens += tok;
        length += tok;
        last = k;
      }
      return { rate: tokens / seconds, dearest: Math.max(...switchCosts) };
    };
    const blind = run(false);
    const seeded = run(true);
    expect(blind.dearest).toBeGreaterThan(2.5); // a late probe over ~28 missed tokens got through
    expect(seeded.dearest).toBeLessThan(2);
    expect(seeded.rate).toBeGreaterThan(blind.rate);
    expect(seeded.rate).toBeGreaterThanOrEqual(0.985);
  });

  it('prices a catch-up in a new bucket from the nearest bucket\'s cost, scaled by the rows (a wave\'s tail)', () => {
    const first = (seeded: boolean) => {
      const ak = new AdaptiveK({ kMax: 4 });
      if (seeded) ak.observeCatchUp(8, 20, 20 * 0.05); // 8 rows: 0.05 units per token per row
      for (let r = 0; r < 6; r++) {
        ak.choose(4, 190);
        ak.observeRound({ batchSize: 4, k: 0, tokensPerRow: 1, seconds: 1 });
      }
      return ak.choose(4, 190); // 190 tokens per row missed: at 4 rows 0.025 × 190 ≈ 4.8 plain rounds
    };
    expect(first(false)).toBe(1); // unpriced: the first exploration goes through
    expect(first(true)).toBe(0);
  });

  it('wants a stateful drafter prefilled while a bucket speculates or is yet to explore, not once it settled on k = 0', () => {
    const ak = new AdaptiveK({ kMax: 4, exploreBudget: 1 }); // budget no limit: the evidence decides
    expect(ak.wantsDraftState(8)).toBe(true); // fresh: its first exploration comes within rounds
    // CPU batch 64: k = 0 wins; after exploring, the bucket runs plain
    const big = simulate(ak, cpuLarge(0.5), 80);
    expect(big.chosen.at(-1)).toBe(0);
    expect(ak.wantsDraftState(64)).toBe(false);
    // a larger bucket that borrowed evidence says will not explore: no prefill either
    expect(ak.wantsDraftState(128)).toBe(false);
    // GPU batch 1: speculation wins; the bucket speculates
    const small = simulate(ak, gpuSmall(0.8), 40);
    expect(small.chosen.at(-1)).toBeGreaterThan(0);
    expect(ak.wantsDraftState(1)).toBe(true);
    expect(new AdaptiveK({ kMax: 0 }).wantsDraftState(1)).toBe(false);
  });

  it('never speculates with kMax = 0', () => {
    const ak = new AdaptiveK({ kMax: 0 });
    expect(simulate(ak, gpuSmall(1), 20).chosen.every((k) => k === 0)).toBe(true);
  });
});

describe('frontierTokens (the measurement while less than a wave waits)', () => {
  /** The rule before: the tokens emitted by the row with the most left to generate. */
  const criticalRowTokens = (rem: readonly number[], emitted: readonly number[]) => emitted[rem.indexOf(Math.max(...rem))]!;

  /**
   * One wave of 64 rows with 65…128 tokens to generate, every round with draft length `k` and
   * i.i.d. acceptance `alpha` from a seeded RNG; per round both measurements and what the end of
   * the work (the largest remaining) actually moved.
   */
  function wave(k: number, alpha: number, seed: number) {
    const rng = new Xoshiro128(seed);
    let rem = Array.from({ length: 64 }, (_, i) => 65 + i);
    const rounds: Array<{ critical: number; frontier: number; progress: number }> = [];
    while (rem.length > 0) {
      const emitted = rem.map((r) => {
        let accepted = 0;
        while (accepted < k && rng.next() < alpha) accepted++;
        return Math.min(r, accepted + 1);
      });
      const after = rem.map((r, b) => r - emitted[b]!);
      rounds.push({
        critical: criticalRowTokens(rem, emitted),
        frontier: frontierTokens(rem, emitted, after.map((r) => r === 0)),
        progress: Math.max(...rem) - Math.max(0, ...after),
      });
      rem = after.filter((r) => r > 0);
    }
    return rounds;
  }

  it('counts the decrease of the largest remaining, not the luck of the row that had it', () => {
    // The critical row (128 left) accepts 4 drafts, its neighbour (127) none: the end came 1 closer.
    expect(criticalRowTokens([128, 128, 126], [5, 1, 1])).toBe(5);
    expect(frontierTokens([128, 128, 126], [5, 1, 1], [false, false, false])).toBe(1);
    // Its neighbour was 1 behind: the end came 2 closer.
    expect(frontierTokens([128, 127, 126], [5, 1, 1], [false, false, false])).toBe(2);
    // Plain decoding: every row, and so the maximum, advances by exactly 1.
    expect(frontierTokens([128, 127, 90], [1, 1, 1], [false, false, false])).toBe(1);
    // A row that stops early (a stop token) gains nothing beyond what it emitted.
    expect(frontierTokens([128, 60], [3, 3], [true, false])).toBe(3);
    expect(frontierTokens([], [], [])).toBe(0);
  });

  it('adds up to the work’s real progress in a synthetic batch-64 wave; the critical-row rule overstates it', () => {
    for (const k of [1, 4]) {
      const rounds = wave(k, 0.6, 7);
      const sum = (f: (r: (typeof rounds)[number]) => number) => rounds.reduce((s, r) => s + f(r), 0);
      expect(sum((r) => r.frontier)).toBe(128); // the whole wave, 128 tokens for the longest row
      expect(sum((r) => r.progress)).toBe(128);
      // The bias the rule had: the argmax row's own tokens credit speculation with extra progress.
      expect(sum((r) => r.critical)).toBeGreaterThan(1.03 * 128);
    }
  });

  it('a wave where k = 4 loses: the critical-row rule measured (and ledgered) it as a win', () => {
    // k = 4 rounds cost 2.18× a plain round (1 s, 1 token of progress). Over the wave they move
    // the end 128 tokens in 59 rounds: 0.996 tokens per plain second, a loss. The critical row's
    // own tokens add up to 136 (+6%): 1.057, above the 5% that speculation needs.
    const rounds = wave(4, 0.6, 7);
    expect(rounds.length).toBe(59);
    const feed = (measure: 'critical' | 'frontier') => {
      const ak = new AdaptiveK({ kMax: 4, window: 64 });
      for (let r = 0; r < 4; r++) ak.observeRound({ batchSize: 64, k: 0, tokensPerRow: 1, seconds: 1 });
      for (const round of rounds) ak.observeRound({ batchSize: 64, k: 4, tokensPerRow: round[measure], seconds: 2.18 });
      return ak;
    };
    const truth = 128 - 2.18 * rounds.length; // seconds won (+) by the k = 4 rounds against plain
    expect(truth).toBeLessThan(0);
    expect(feed('critical').bestK(64)).toBe(4); // the bias: a loss measured as a gain …
    expect(feed('critical').lossSeconds).toBeLessThan(0); // … and a ledger that says it won
    expect(feed('frontier').bestK(64)).toBe(0);
    expect(feed('frontier').lossSeconds).toBeCloseTo(-truth, 9);
  });
});

describe('measuredSeconds (a wave’s admission is no part of the plain reference)', () => {
  it('leaves out the admission of a wave, keeps rows joining one by one', () => {
    expect(measuredSeconds(0.25, 0.21, 64, 64)).toBeCloseTo(0.04, 12);
    expect(measuredSeconds(0.25, 0.21, 32, 64)).toBeCloseTo(0.04, 12);
    expect(measuredSeconds(0.05, 0.01, 1, 64)).toBe(0.05); // a row refilled: a cost speculation causes
    expect(measuredSeconds(0.05, 0, 0, 64)).toBe(0.05);
    expect(measuredSeconds(0.01, 0.004, 1, 1)).toBeCloseTo(0.006, 12); // batch 1: every request is a wave
  });

  it('a batch-64 wave whose first round carries the prefill: k = 1 at 1.3× a plain round measured as a large win before', () => {
    // Measured on the CPU: round 1 (prefill of 64 prompts + a plain step) 0.21 s, plain steps
    // 0.04 s. k = 1 rounds cost 0.052 s and move the end 1.2 tokens: 23 tokens/s against 25.
    const feed = (prefill: 'kept' | 'left out') => {
      const ak = new AdaptiveK({ kMax: 1 });
      const first = prefill === 'kept' ? 0.21 : measuredSeconds(0.21, 0.17, 64, 64);
      ak.observeRound({ batchSize: 64, k: 0, tokensPerRow: 1, seconds: first });
      ak.observeRound({ batchSize: 64, k: 0, tokensPerRow: 1, seconds: 0.04 });
      const chosen: number[] = [];
      for (let r = 0; r < 30; r++) {
        const k = ak.choose(64);
        chosen.push(k);
        ak.observeRound({ batchSize: 64, k, tokensPerRow: k === 0 ? 1 : 1.2, seconds: k === 0 ? 0.04 : 0.052 });
      }
      return { ak, spec: chosen.filter((k) => k > 0).length };
    };
    // Kept, it made R(64, 0) 2 tokens / 0.25 s, a third of the real rate, and the ledger said
    // speculation won (before the plain arm dropped the slower of two rounds at over 1.5×).
    const kept = feed('kept');
    expect(kept.ak.plainRate(64)).toBeCloseTo(25, 6);
    expect(kept.ak.bestK(64)).toBe(0);
    const fixed = feed('left out');
    expect(fixed.ak.plainRate(64)).toBeCloseTo(25, 6);
    expect(fixed.ak.bestK(64)).toBe(0);
    expect(fixed.spec).toBeLessThanOrEqual(4); // explored, then back to plain
    expect(fixed.ak.lossSeconds).toBeGreaterThan(0);
  });

  it('a batch-64 wave on the H200 (k = 1 at 1.85× a plain round, α = 0.73): lucky frontier rounds do not turn speculation on', () => {
    // GPU run 6, model drafter: plain rounds 23 ms, k = 1 rounds 39–45 ms (draft 8–12 ms +
    // verify 30–36 ms). Each row accepts with α = 0.73, so E(1) = 1.73 tokens and k = 1 loses
    // (1.73 / 43 ms < 1 / 23 ms); but the frontier advanced by 2, the most it can, in each of the
    // first k = 1 rounds (the 1–2 rows at the top of the wave all accepted), and the measured
    // rate alone said k = 1 wins by 7%: the run kept speculating and ended at 0.92× plain.
    const ak = new AdaptiveK({ kMax: 1 });
    const rng = new Xoshiro128(7);
    const acceptRows = () => {
      for (let row = 0; row < 64; row++) ak.observeAcceptance(1, rng.next() < 0.73 ? 1 : 0);
    };
    ak.observeRound({ batchSize: 64, k: 0, tokensPerRow: 1, seconds: 0.023 });
    ak.observeRound({ batchSize: 64, k: 0, tokensPerRow: 1, seconds: 0.023 });
    expect(ak.choose(64)).toBe(1);
    for (let r = 0; r < 4; r++) {
      acceptRows();
      ak.observeRound({ batchSize: 64, k: 1, tokensPerRow: 2, seconds: 0.043 });
    }
    expect(ak.measuredRate(64, 1)).toBeGreaterThan(1.05 * ak.plainRate(64)!); // what the frontier says
    expect(ak.expectedTokens(1)).toBeGreaterThan(1.6);
    expect(ak.expectedTokens(1)).toBeLessThan(1.85);
    expect(ak.bestK(64)).toBe(0); // capped by E(1) / Ĉ(1)
    expect(ak.choose(64)).toBe(0);
  });

  it('still speculates where the prediction agrees with the measurement (GPU, small batch)', () => {
    const ak = new AdaptiveK({ kMax: 4 });
    const { speedup } = simulate(ak, gpuSmall(0.8), 150);
    expect(ak.bestK(1)).toBeGreaterThanOrEqual(3);
    expect(speedup).toBeGreaterThan(1.8);
  });

  it('probes a hopeless k = 1 (predicted below 85% of plain) only every probeEvery rounds', () => {
    // H200, batch 8, model drafter: k = 1 rounds cost 1.9× a plain one and emit 1.5 tokens.
    const ak = new AdaptiveK({ kMax: 4 });
    const sys: System = { seconds: (k) => (k === 0 ? 1 : 1.9 + 0.9 * (k - 1)), alpha: 0.5, batch: 8 };
    const { chosen, speedup } = simulate(ak, sys, 300);
    const starts = chosen.flatMap((k, i) => (k > 0 && chosen[i - 1] === 0 ? [i] : []));
    expect(starts[0]).toBe(2); // the first exploration
    expect(starts.slice(1).every((s, i) => s - starts[i]! >= 128)).toBe(true);
    expect(starts.length).toBeLessThanOrEqual(3);
    expect(speedup).toBeGreaterThanOrEqual(0.98);
  });

  it('a plain round at 2× among the first two does not lower the plain reference (H200, batch 8)', () => {
    // GPU run 9: plain rounds of 4.8 ms, the second one 10.4 ms. Measured over both, the plain
    // rate was a third too low and k = 3 rounds (24 tokens in 12.7 ms) looked like a win.
    const ak = new AdaptiveK({ kMax: 6 });
    ak.observeRound({ batchSize: 8, k: 0, tokensPerRow: 1, seconds: 0.0048 });
    ak.observeRound({ batchSize: 8, k: 0, tokensPerRow: 1, seconds: 0.0104 });
    expect(ak.plainRate(8)).toBeCloseTo(1 / 0.0048, 6);
    ak.observeRound({ batchSize: 8, k: 0, tokensPerRow: 1, seconds: 0.0051 });
    expect(ak.plainRate(8)).toBeCloseTo(2 / (0.0048 + 0.0051), 6); // 3 samples: the spike filter
  });

  it('counts what switching costs (a draft model catching up) before probing again', () => {
    // CPU, batch 1, draft model: a plain round 1 unit; a steady k = 1 round 1.6 units for 1.5
    // tokens (a loss, but not hopeless), and the first round after switching to k = 1 costs
    // 5 units more (the draft catches up on every token it missed).
    const ak = new AdaptiveK({ kMax: 1 });
    let seconds = 0;
    let tokens = 0;
    let last = 0;
    const chosen: number[] = [];
    for (let r = 0; r < 400; r++) {
      const k = ak.choose(1);
      chosen.push(k);
      for (let s = 0; s < 2; s++) ak.observeAcceptance(k, k > 0 && s === 0 ? 1 : 0);
      const sec = k === 0 ? 1 : 1.6 + (last === 0 ? 5 : 0);
      const tok = k === 0 ? 1 : 1.5;
      ak.observeRound({ batchSize: 1, k, tokensPerRow: tok, seconds: sec });
      seconds += sec;
      tokens += tok;
      last = k;
    }
    const switchesIn = chosen.filter((k, i) => k > 0 && (i === 0 || chosen[i - 1] === 0)).length;
    // Without counting the switch: explored at round 2, probed again at 302; 0.975× plain.
    expect(tokens / seconds).toBeGreaterThanOrEqual(0.985);
    expect(switchesIn).toBe(1);
  });

  it('prices a probe by the tokens a stateful drafter missed: a late catch-up costs more than the first', () => {
    // CPU, batch 8, draft model: plain round 1 unit; steady k = 1 1.3 units for 1.3 tokens (a
    // loss, not hopeless); a switch in costs 0.05 units per token the draft model missed, per
    // row: the first probe (after the 20-token prompt and 2 rounds) ~1.1, one after 100 plain
    // rounds ~6. Without the catch-up known, the first probe's small excess let later ones through.
    const run = (tellCatchUp: boolean) => {
      const ak = new AdaptiveK({ kMax: 1 });
      let seconds = 0;
      let tokens = 0;
      let last = 0;
      let length = 20;
      let drafted = 0;
      const chosen: number[] = [];
      for (let r = 0; r < 600; r++) {
        const missed = length - drafted;
        const k = ak.choose(8, tellCatchUp ? missed : 0);
        chosen.push(k);
        for (let s = 0; s < 8; s++) ak.observeAcceptance(k, k > 0 && s < 3 ? 1 : 0);
        const sec = k === 0 ? 1 : 1.3 + (last === 0 ? 0.05 * missed : 0);
        const tok = k === 0 ? 1 : 1.3;
        if (k > 0) drafted = length;
        ak.observeRound({ batchSize: 8, k, tokensPerRow: tok, seconds: sec, ...(tellCatchUp && k > 0 ? { catchUp: missed } : {}) });
        seconds += sec;
        tokens += tok;
        length += tok;
        last = k;
      }
      return { rate: tokens / seconds, switchesIn: chosen.filter((k, i) => k > 0 && (i === 0 || chosen[i - 1] === 0)).length };
    };
    const blind = run(false);
    const told = run(true);
    expect(blind.switchesIn).toBeGreaterThan(1); // later probes, each a catch-up over everything missed
    expect(told.switchesIn).toBe(1);
    expect(told.rate).toBeGreaterThan(blind.rate);
    expect(told.rate).toBeGreaterThanOrEqual(0.985);
  });
});

describe('cache lead (rows share one cache length, set by the longest row)', () => {
  /** Round by round: Σ over the rounds ahead of (longest running row after − before − mean progress). */
  function countedLead(before: number[], after: number[], remaining: number[]): number {
    const progress = after.reduce((s, l, r) => s + l - before[r]!, 0) / before.length;
    let total = 0;
    for (let t = 0; t < Math.max(...remaining); t++) {
      const running = remaining.map((x, r) => (x > t ? r : -1)).filter((r) => r >= 0);
      total += Math.max(...running.map((r) => after[r]!)) - Math.max(...running.map((r) => before[r]!)) - progress;
    }
    return total;
  }

  it('a plain round leaves none; a row that ran ahead leaves its excess for as long as it runs ahead', () => {
    expect(cacheLead([20, 25, 30], [21, 26, 31], [10, 50, 5])).toEqual({ slots: 0, slotRounds: 0 });
    // Row 0 accepted 6 drafts, row 1 none: the cache grew by 7, the batch by 4 on average.
    const lead = cacheLead([20, 20], [27, 21], [50, 10]);
    expect(lead.slots).toBe(3);
    expect(lead.slotRounds).toBe(40 * 3 + 10 * 3); // row 0 alone for 40 rounds, both for 10
    // Rows behind that catch up take from it (the longest accepted nothing).
    expect(cacheLead([30, 20], [31, 27], [50, 50]).slotRounds).toBe(50 * (1 - 4));
  });

  it('equals a round-by-round count of the longest running row (random batches)', () => {
    const rng = new Xoshiro128(7);
    const int = (n: number) => Math.floor(rng.next() * n);
    for (let c = 0; c < 200; c++) {
      const rows = 1 + int(9);
      const before = Array.from({ length: rows }, () => 20 + int(30));
      const after = before.map((l) => l + 1 + int(5));
      const remaining = before.map(() => int(40));
      expect(cacheLead(before, after, remaining).slotRounds).toBeCloseTo(countedLead(before, after, remaining), 9);
    }
  });

  it('expectedLead is the mean of cacheLead over rounds drawn from the per-position acceptance', () => {
    const ak = new AdaptiveK({ kMax: 3, decay: 1 });
    // accepted 0, 1, 2, 3 with probabilities 0.4, 0.2, 0.1, 0.3 (exactly, over 10 rows a round)
    for (let r = 0; r < 500; r++) for (const a of [0, 0, 0, 0, 1, 1, 2, 3, 3, 3]) ak.observeAcceptance(3, a);
    const atLeast = (m: number) => (m <= 1 ? 1 : m <= 4 ? ak.acceptanceAt(m - 2) : 0);
    const rng = new Xoshiro128(11);
    const emitted = () => {
      const u = rng.next();
      let e = 1;
      while (e < 4 && u < atLeast(e + 1)) e++;
      return e;
    };
    const cases: Array<[number[], number[]]> = [
      [[40, 40, 40, 40, 40, 40, 40, 40], [60, 50, 40, 30, 20, 10, 5, 1]], // a wave in step
      [[40, 38, 41, 30, 39], [12, 30, 3, 50, 7]], // out of step, lags within k
      [[90, 60, 30], [10, 20, 30]], // far apart: no lead
    ];
    for (const [lengths, remaining] of cases) {
      let sum = 0;
      const n = 20000;
      for (let i = 0; i < n; i++) sum += cacheLead(lengths, lengths.map((l) => l + emitted()), remaining).slotRounds;
      const expected = ak.expectedLead(3, lengths, remaining);
      expect(Math.abs(sum / n - expected)).toBeLessThan(0.02 * Math.max(10, expected));
    }
    expect(ak.expectedLead(3, [90, 60, 30], [10, 20, 30])).toBeCloseTo(0, 9);
    expect(ak.expectedLead(3, [40], [100])).toBe(0); // one row
    expect(ak.expectedLead(0, [40, 40], [100, 100])).toBe(0);
  });

  it('slotCost: the slope of plain rounds over the cache length, at least the measured one; that one until it is fitted', () => {
    const ak = new AdaptiveK({ kMax: 2 });
    expect(ak.slotCost(8)).toBeUndefined();
    ak.observeSlotCost(8, 0.00002);
    expect(ak.slotCost(8)).toBe(0.00002);
    expect(ak.slotCost(4)).toBeCloseTo(0.00001, 12); // nearest bucket, scaled by rows
    const rng = new Xoshiro128(3);
    for (let L = 20; L < 150; L++) ak.observeRound({ batchSize: 8, k: 0, tokensPerRow: 1, seconds: 0.005 + 0.00003 * L + 0.0002 * (rng.next() - 0.5), pastLength: L });
    expect(ak.slotCost(8)).toBeGreaterThan(0.000027);
    expect(ak.slotCost(8)).toBeLessThan(0.000033);
    // A wave's first rounds on a cost that is flat up to 64 slots, then steps up (H100, batch
    // 64): the measured slope over 16 … 144 slots prices the lead, not the flat fit.
    const step = new AdaptiveK({ kMax: 2 });
    step.observeSlotCost(64, 0.00004);
    for (let L = 20; L < 64; L++) step.observeRound({ batchSize: 64, k: 0, tokensPerRow: 1, seconds: 0.024 + 0.0002 * (rng.next() - 0.5), pastLength: L });
    expect(step.slotCost(64)).toBe(0.00004);
  });

  /** k = 2 at 1.2× a plain round; half the rows accept both drafts, half none (E(2) = 2). */
  function learnt(): AdaptiveK {
    const ak = new AdaptiveK({ kMax: 2, exploreBudget: 1 });
    for (let r = 0; r < 120; r++) {
      const k = ak.choose(8);
      for (let s = 0; s < 8; s++) ak.observeAcceptance(k, s < 4 ? k : 0);
      const plain = 0.5 + 0.002 * (20 + r);
      ak.observeRound({ batchSize: 8, k, tokensPerRow: 1 + k / 2, seconds: k === 0 ? plain : plain * (1 + 0.1 * k), pastLength: 20 + r });
    }
    ak.observeSlotCost(8, 0.002);
    return ak;
  }

  it('prices the lead: a k that wins per round loses to plain in a wave in step with many rounds ahead', () => {
    const rows = (x: number) => Array.from({ length: 8 }, () => x);
    const ak = learnt();
    ak.choose(8); // no context: no lead priced
    expect(ak.bestK(8)).toBe(2);
    ak.choose(8, 0, { lengths: rows(140), remaining: rows(3) }); // a wave's tail
    expect(ak.bestK(8)).toBe(2);
    ak.choose(8, 0, { lengths: rows(140), remaining: rows(500) }); // a wave's start
    expect(ak.leadPenalty(8, 2)).toBeGreaterThan(0.5);
    expect(ak.bestK(8)).toBe(0);
    // rows out of step by more than k: the longest row's own tokens are the growth, no lead
    ak.choose(8, 0, { lengths: [220, 200, 180, 160, 140, 120, 100, 80], remaining: rows(500) });
    expect(ak.leadPenalty(8, 2)).toBeCloseTo(0, 9);
    expect(ak.bestK(8)).toBe(2);
  });

  it('charges the lead that rounds left to the ledger at the current slot cost, also from before it was known', () => {
    const ak = new AdaptiveK({ kMax: 2 });
    for (let r = 0; r < 2; r++) ak.observeRound({ batchSize: 8, k: 0, tokensPerRow: 1, seconds: 1 });
    ak.observeRound({ batchSize: 8, k: 2, tokensPerRow: 2, seconds: 1.2, lead: { slots: 2, slotRounds: 200 } });
    const before = ak.lossSeconds;
    expect(before).toBeCloseTo(1.2 - 2, 9); // won 0.8 s by the round itself
    ak.observeSlotCost(8, 0.01);
    expect(ak.lossSeconds).toBeCloseTo(before + 2, 9);
  });
});

describe('quiet rounds (settled on k = 0)', () => {
  it('with several rows, compares every k once per 8 rounds once settled on k = 0; at one row every round; a probe is not delayed', () => {
    const comparisons = (rows: number) => {
      const ak = new AdaptiveK({ kMax: 4 });
      // acceptance already measured (at one row a first exploration without it runs longer)
      for (let s = 0; s < 8; s++) ak.observeAcceptance(1, 0);
      const bestK = vi.spyOn(ak, 'bestK');
      const chosen: number[] = [];
      for (let r = 0; r < 400; r++) {
        const k = ak.choose(rows);
        chosen.push(k);
        for (let s = 0; s < rows; s++) ak.observeAcceptance(k, 0); // nothing accepted: k = 0 wins
        ak.observeRound({ batchSize: rows, k, tokensPerRow: 1, seconds: k === 0 ? 1 : 1.5 });
      }
      // decisions in rounds 200–399 (settled; the probes' own bookkeeping aside)
      const before = bestK.mock.calls.length;
      for (let r = 0; r < 200; r++) {
        const k = ak.choose(rows);
        chosen.push(k);
        ak.observeRound({ batchSize: rows, k, tokensPerRow: 1, seconds: k === 0 ? 1 : 1.5 });
      }
      return { calls: bestK.mock.calls.length - before, probes: chosen.filter((k) => k > 0).length, chosen };
    };
    const eight = comparisons(8);
    const one = comparisons(1);
    expect(one.calls).toBeGreaterThanOrEqual(200);
    expect(eight.calls).toBeLessThan(40); // ~200 / 8, plus the rounds around probes
    expect(eight.calls).toBeGreaterThanOrEqual(200 / 8);
    // the probe schedule is the same with and without quiet rounds: the same plain rounds
    // between probes (at one row a probe of a k with < 3 samples runs until it has 3)
    const gaps = (chosen: number[]) => {
      const probes = zeroRuns(chosen.map((k) => (k > 0 ? 0 : 1)));
      return probes.slice(1).map(([start], i) => start - (probes[i]![0] + probes[i]![1]));
    };
    expect(gaps(eight.chosen).length).toBeGreaterThanOrEqual(4);
    expect(gaps(eight.chosen)).toEqual(gaps(one.chosen));
  });

  it('a due probe the budget cannot afford waits in quiet rounds too, until rows join with less to catch up on', () => {
    // A draft model at 8 rows: its catch-up over the tokens it missed costs 0.5 s per token per
    // row (a plain round: 1 s), and grows by one token a round, faster than the budget.
    const ak = new AdaptiveK({ kMax: 2 });
    for (let s = 0; s < 8; s++) ak.observeAcceptance(1, 0);
    ak.observeCatchUp(8, 20, 10);
    const bestK = vi.spyOn(ak, 'bestK');
    let catchUp = 10;
    for (let r = 0; r < 220; r++, catchUp++) {
      const k = ak.choose(8, catchUp);
      expect(k).toBe(0); // never affordable
      ak.observeRound({ batchSize: 8, k, tokensPerRow: 1, seconds: 1 });
    }
    // probes fall due after 16 plain rounds; from then on the comparison runs once per 8 rounds
    expect(bestK.mock.calls.length).toBeLessThan(220 / 8 + 20);
    // rows joined whose state was prefilled (one token each to catch up on): the comparison runs
    // at once, and the probe fits the budget now
    const before = bestK.mock.calls.length;
    expect(ak.choose(8, 1)).toBe(1);
    expect(bestK.mock.calls.length).toBeGreaterThan(before);
  });
});

describe('probes at one row (a draft model: only speculative rounds measure acceptance)', () => {
  /** Plain rounds 1 s; speculative ones 1.5 s, the first after plain decoding 3 s more (a catch-up); nothing accepted. */
  function probes() {
    const ak = new AdaptiveK({ kMax: 2, exploreBudget: 0.05 });
    const chosen: number[] = [];
    let last = 0;
    for (let r = 0; r < 600; r++) {
      const k = ak.choose(1, 0, { lengths: [20], remaining: [100], ids: ['a'] });
      chosen.push(k);
      if (k > 0) ak.observeAcceptance(k, 0, k, 'a');
      ak.observeRound({ batchSize: 1, k, tokensPerRow: 1, seconds: k === 0 ? 1 : 1.5 + (last === 0 ? 3 : 0) });
      last = k;
    }
    // runs of speculative rounds after the first exploration
    return zeroRuns(chosen.map((k) => (k > 0 ? 0 : 1))).slice(1);
  }

  it('runs a probe 4 rounds once it started, though its first round used up the budget', () => {
    const runs = probes();
    expect(runs.length).toBeGreaterThanOrEqual(3); // (cut to 1–2 rounds by the budget before)
    for (const [, length] of runs) expect(length).toBe(4);
  });

  it('a draft model at one row on a CPU: keeps most of a 20% win through unlucky rounds and spikes, loses < 2.5% where it cannot win', () => {
    // `simulateRow`: measured CPU cost curves, ±5% noise, a 2–4× spike in one round of 50,
    // catch-ups, a new sequence every 130 rounds; acceptance per position α, drawn per round.
    // The best fixed k wins ~20% at α = 0.66 (k = 2).
    expect(meanRowSpeedup(0.66, 40)).toBeGreaterThan(1.105); // 1.114 (deterministic seeds); 1.091 with probes cut short by the budget and spikes in the rest
    expect(meanRowSpeedup(0.3, 40)).toBeGreaterThan(0.975); // 0.988
  });

  it('leaves the rest of a speculative round\'s cost unmoved by a spike (another process on the cores)', () => {
    const make = () => {
      const ak = new AdaptiveK({ kMax: 4 });
      ak.observeVerifyCurve(1, [1, 1.1, 1.2, 1.3, 1.45]);
      ak.observeDraftCurve(1, [0, 0.3, 0.45, 0.6, 0.75]);
      for (let r = 0; r < 4; r++) ak.observeRound({ batchSize: 1, k: 0, tokensPerRow: 1, seconds: 1 });
      ak.observeRound({ batchSize: 1, k: 4, tokensPerRow: 3, seconds: 2.3 }); // the switch in
      for (let r = 0; r < 8; r++) ak.observeRound({ batchSize: 1, k: 4, tokensPerRow: 3, seconds: 2.3 });
      return ak;
    };
    const steady = make().curveRate(1, 4)!;
    const spiked = make();
    spiked.observeRound({ batchSize: 1, k: 4, tokensPerRow: 3, seconds: 6.5 });
    expect(spiked.curveRate(1, 4)).toBeCloseTo(steady, 12);
    // a slower round that is no spike still moves it
    const slower = make();
    slower.observeRound({ batchSize: 1, k: 4, tokensPerRow: 3, seconds: 3 });
    expect(slower.curveRate(1, 4)!).toBeLessThan(steady * 0.98);
  });
});

describe('free drafters at one row: rates given a proposal (curveRate)', () => {
  /** A bucket where k = 1 was measured dear (1.36 plain rounds: the rounds after switches) and shadows saw n-gram-like proposals. */
  function ngramLike(curve?: number[]): AdaptiveK {
    const ak = new AdaptiveK({ kMax: 6, exploreBudget: 1 });
    if (curve) ak.observeVerifyCurve(1, curve);
    for (let r = 0; r < 2; r++) ak.observeRound({ batchSize: 1, k: 0, tokensPerRow: 1, seconds: 1 });
    for (let r = 0; r < 4; r++) ak.observeRound({ batchSize: 1, k: 1, tokensPerRow: 1.2, seconds: 1.36 });
    for (let r = 0; r < 40; r++) ak.observeRound({ batchSize: 1, k: 0, tokensPerRow: 1, seconds: 1 });
    // 45% of the rows propose; given a proposal, 55% of first drafts and fewer later ones are accepted
    for (let r = 0; r < 200; r++) {
      const proposes = r % 20 < 9;
      const accepted = proposes ? [0, 0, 0, 0, 1, 1, 2, 3, 6, 6][r % 10]! : 0;
      ak.observeShadow(6, accepted, proposes ? 6 : 0);
    }
    return ak;
  }

  it('separates how often a row proposes from acceptance given a proposal', () => {
    const ak = ngramLike();
    expect(ak.proposalRate()).toBeCloseTo(0.45, 1);
    expect(ak.proposedTokens(1)).toBeCloseTo(1.6, 1); // 6 of 10 proposing rows accept the first draft
    expect(ak.expectedTokens(1)).toBeLessThan(1.35); // pooled: empty proposals count as rejections
  });

  it('with the verify curve, explores a k the pooled model prices out (a line through a dear k = 1); without it, stays at k = 0', () => {
    const curve = [1, 1.15, 1.27, 1.34, 1.4, 1.45, 1.67]; // CPU, batch 1 (measureVerifyCurve)
    const withCurve = ngramLike(curve);
    const pooled = ngramLike();
    expect(withCurve.curveRate(1, 2)).toBeGreaterThan(1.15); // per plain-round second
    expect(pooled.curveRate(1, 2)).toBeUndefined();
    expect(withCurve.choose(1)).toBeGreaterThan(1);
    expect(pooled.choose(1)).toBe(0);
  });
});

describe('a draft model priced by measured cost curves (curveRate)', () => {
  // CPU, batch 1, a 1-layer draft of an 8-layer target: verify curve and draft cost per k in
  // one-position forwards (measureVerifyCurve, ModelDrafter.measureCost): a draft call has a
  // fixed cost (0.4 forwards at k = 1, then ~0.15 per draft).
  const verify = [1, 1.1, 1.16, 1.21, 1.25, 1.3, 1.43];
  const draft = [0, 0.4, 0.55, 0.67, 0.85, 0.95, 1.1];
  const cpuDraft = (alpha: number, speed: (r: number) => number) => {
    let round = 0;
    return { alpha, batch: 1, seconds: (k: number) => speed(round++) * (verify[k]! + draft[k]! + (k > 0 ? 0.1 : 0)) };
  };
  const run = (curves: boolean, speed: (r: number) => number) => {
    const ak = new AdaptiveK({ kMax: 6 });
    if (curves) {
      ak.observeVerifyCurve(1, verify);
      ak.observeDraftCurve(1, draft);
    }
    return simulate(ak, cpuDraft(0.7, speed), 400);
  };

  it('finds the k that wins where the line through k = 0 and k = 1 prices every longer draft out', () => {
    const steady = () => 1;
    const withCurves = run(true, steady);
    const line = run(false, steady);
    // α = 0.7: k = 3 wins ~19% over plain, k = 1 ~12%
    expect(withCurves.chosen.slice(100).filter((k) => k >= 2).length).toBeGreaterThan(0.8 * 300);
    expect(line.chosen.slice(100).filter((k) => k >= 2).length).toBeLessThan(0.2 * 300);
    expect(withCurves.speedup).toBeGreaterThan(line.speedup + 0.03);
  });

  it('keeps speculating when the machine speeds up after the arms were measured (rest in plain rounds)', () => {
    // every round 25% faster from round 150 on (another process left the cores)
    const faster = run(true, (r) => (r < 150 ? 1.25 : 1));
    expect(faster.chosen.slice(200).filter((k) => k >= 2).length).toBeGreaterThan(0.8 * 200);
  });
});

describe('a row alone prices free drafts by its own acceptance (a wave\'s last row)', () => {
  it('stops speculating for a row whose own drafts are rejected while the pooled acceptance is high; a new row starts from the pool', () => {
    const curve = [1, 1.05, 1.15, 1.19, 1.18, 1.3, 1.41]; // CPU, batch 1
    const ak = new AdaptiveK({ kMax: 6 });
    ak.observeVerifyCurve(1, curve);
    for (let r = 0; r < 4; r++) ak.observeRound({ batchSize: 1, k: 0, tokensPerRow: 1, seconds: 1 });
    // earlier rows: every proposal fully accepted (rollout reuse early in a wave)
    for (let s = 0; s < 100; s++) ak.observeShadow(6, 6, 6, `early-${s % 8}`);
    const context = (id: string) => ({ lengths: [100], remaining: [40], ids: [id] });
    expect(ak.choose(1, 0, context('last'))).toBeGreaterThan(0);
    // the last row: it proposes, and nothing is accepted
    const chosen: number[] = [];
    for (let r = 0; r < 40; r++) {
      const k = ak.choose(1, 0, context('last'));
      chosen.push(k);
      ak.observeAcceptance(k, 0, k, 'last');
      if (k === 0) ak.observeShadow(6, 0, 6, 'last');
      ak.observeRound({ batchSize: 1, k, tokensPerRow: 1, seconds: curve[k]! });
    }
    expect(chosen.slice(-20).every((k) => k === 0)).toBe(true);
    // without its id the pooled acceptance (still high: 40 rejections against 100 acceptances) would speculate
    expect(ak.choose(1, 0, context('new'))).toBeGreaterThan(0);
  });
});

describe('a bucket\'s first exploration with a stateful drafter', () => {
  it('runs while the catch-up is small, though the budget at the start is a fraction of a round', () => {
    const first = (catchUp: number) => {
      const ak = new AdaptiveK({ kMax: 4 });
      // the admission prefill priced a catch-up at 0.5 s per token per row (a plain round: 1 s)
      ak.observeCatchUp(8, 20, 10);
      for (let r = 0; r < 2; r++) ak.observeRound({ batchSize: 8, k: 0, tokensPerRow: 1, seconds: 1 });
      return ak.choose(8, catchUp);
    };
    expect(first(2)).toBe(1); // 2 tokens behind: explore now, not after ~100 rounds of growing catch-up
    expect(first(40)).toBe(0); // far behind: held to the budget
  });
});

describe('a draft model at one row (acceptance measured by speculative rounds alone)', () => {
  // CPU, batch 1, a 1-layer draft (as above): verify curve and draft cost per k in one-position forwards
  const verify = [1, 1.1, 1.16, 1.21, 1.25, 1.3, 1.43];
  const draft = [0, 0.4, 0.55, 0.67, 0.85, 0.95, 1.1];
  const withCurves = (kMax = 6) => {
    const ak = new AdaptiveK({ kMax });
    ak.observeVerifyCurve(1, verify);
    ak.observeDraftCurve(1, draft);
    for (let r = 0; r < 2; r++) ak.observeRound({ batchSize: 1, k: 0, tokensPerRow: 1, seconds: 1 });
    return ak;
  };
  const context = (id: string) => ({ lengths: [40], remaining: [80], ids: [id] });

  it('a first exploration runs until position 0 has 8 observations, not 3 samples of its arm; with shadows, 3 samples', () => {
    const firstRun = (shadowed: boolean) => {
      const ak = withCurves();
      // with shadows: earlier shadow drafts of this row were accepted in full, so it explores
      if (shadowed) for (let s = 0; s < 4; s++) ak.observeShadow(6, 6, 6, 'a');
      const chosen: number[] = [];
      for (let r = 0; r < 30; r++) {
        const k = ak.choose(1, 0, context('a'));
        chosen.push(k);
        // one row's luck: the first drafts rejected (a drafter that accepts ~0.66 on the whole)
        ak.observeAcceptance(k, 0, k, 'a');
        ak.observeRound({ batchSize: 1, k, tokensPerRow: 1, seconds: verify[k]! + draft[k]! });
      }
      const start = chosen.findIndex((k) => k > 0);
      const end = chosen.indexOf(0, start);
      return { start, length: end - start };
    };
    const model = firstRun(false);
    expect(model.start).toBe(0);
    expect(model.length).toBeGreaterThanOrEqual(8); // 8 observations of position 0
    expect(model.length).toBeLessThanOrEqual(9);
    const free = firstRun(true);
    expect(free.start).toBeGreaterThanOrEqual(0);
    expect(free.length).toBeLessThanOrEqual(4); // the switch round and 3 samples
  });

  it('probes at the k the cost curves price best, not k = 1; without a draft curve, k = 1', () => {
    const probe = (curves: boolean) => {
      const ak = new AdaptiveK({ kMax: 6 });
      ak.observeVerifyCurve(1, verify);
      if (curves) ak.observeDraftCurve(1, draft);
      for (let r = 0; r < 2; r++) ak.observeRound({ batchSize: 1, k: 0, tokensPerRow: 1, seconds: 1 });
      // a first exploration found acceptance ~0.4: nothing beats plain (the best, k = 2, prices at ~0.95)
      for (let r = 0; r < 40; r++) ak.observeAcceptance(4, [0, 2, 0, 1, 0][r % 5]!, 4);
      for (let r = 0; r < 4; r++) ak.observeRound({ batchSize: 1, k: 4, tokensPerRow: 1.8, seconds: verify[4]! + draft[4]! });
      const chosen: number[] = [];
      for (let r = 0; r < 60; r++) {
        const k = ak.choose(1, 0);
        chosen.push(k);
        ak.observeRound({ batchSize: 1, k, tokensPerRow: k === 0 ? 1 : 1.8, seconds: verify[k]! + draft[k]! });
        if (k > 0) break;
      }
      const k = chosen[chosen.length - 1]!;
      return { k, rates: [1, 2, 3, 4, 5, 6].map((kk) => ak.curveRate(1, kk) ?? 0) };
    };
    const model = probe(true);
    expect(Math.max(...model.rates)).toBeLessThan(1); // a probe, not an exploration of a predicted win
    expect(model.k).toBeGreaterThan(1);
    expect(model.rates[model.k - 1]).toBe(Math.max(...model.rates));
    expect(probe(false).k).toBe(1);
  });

  it('a new sequence gets one probe, then is priced by its own acceptance; the one before keeps its own', () => {
    // a budget that a's lost first exploration leaves room in (the default's 1.5% would hold the probe back)
    const ak = new AdaptiveK({ kMax: 4, exploreBudget: 0.3 });
    ak.observeVerifyCurve(1, verify);
    ak.observeDraftCurve(1, draft);
    for (let r = 0; r < 2; r++) ak.observeRound({ batchSize: 1, k: 0, tokensPerRow: 1, seconds: 1 });
    const round = (id: string, accept: (k: number) => number) => {
      const k = ak.choose(1, 1, context(id));
      if (k > 0) ak.observeAcceptance(k, accept(k), k, id);
      ak.observeRound({ batchSize: 1, k, tokensPerRow: k === 0 ? 1 : 1 + accept(k), seconds: verify[k]! + draft[k]! });
      return k;
    };
    // sequence a: its drafts are rejected; after its first exploration it settles on k = 0
    const a = Array.from({ length: 40 }, () => round('a', () => 0));
    expect(a.slice(-20).every((k) => k === 0)).toBe(true);
    // sequence b: probed at once, its drafts all accepted, and it speculates on
    const b = Array.from({ length: 30 }, () => round('b', (k) => k));
    expect(b.slice(0, 2).some((k) => k > 0)).toBe(true);
    expect(b.slice(-10).every((k) => k > 0)).toBe(true);
    // back to a (it has acceptance of its own: no probe; priced by its own rejected drafts)
    expect(Array.from({ length: 3 }, () => round('a', () => 0))).toEqual([0, 0, 0]);
  });

  it('settled on k = 0, compares every k once per 8 rounds while the same sequence runs; a new one gets the full comparison at once', () => {
    const ak = withCurves(4);
    for (let r = 0; r < 40; r++) ak.observeAcceptance(4, 0, 4); // a draft that is never accepted
    for (let r = 0; r < 4; r++) ak.observeRound({ batchSize: 1, k: 4, tokensPerRow: 1, seconds: 2.2 });
    for (let r = 0; r < 4; r++) ak.observeRound({ batchSize: 1, k: 0, tokensPerRow: 1, seconds: 1 });
    const bestK = vi.spyOn(ak, 'bestK');
    const chosen: number[] = [];
    for (let r = 0; r < 80; r++) {
      const k = ak.choose(1, 1, context('a'));
      chosen.push(k);
      ak.observeRound({ batchSize: 1, k, tokensPerRow: 1, seconds: k === 0 ? 1 : 2.2 });
    }
    const settledRounds = chosen.filter((k) => k === 0).length;
    expect(settledRounds).toBeGreaterThan(60);
    expect(bestK.mock.calls.length).toBeLessThan(settledRounds / 2);
    // a's next full comparison (then 7 quiet rounds would follow for a)
    for (let before = bestK.mock.calls.length; bestK.mock.calls.length === before; ) {
      const k = ak.choose(1, 1, context('a'));
      ak.observeRound({ batchSize: 1, k, tokensPerRow: 1, seconds: k === 0 ? 1 : 2.2 });
    }
    const calls = bestK.mock.calls.length;
    ak.choose(1, 1, context('b'));
    expect(bestK.mock.calls.length).toBeGreaterThan(calls); // a new sequence: decided at once
    // a free drafter's shadows may find a repeated passage in any round: every round
    const free = withCurves(4);
    free.observeShadow(4, 0, 4, 'a');
    const freeBest = vi.spyOn(free, 'bestK');
    for (let r = 0; r < 40; r++) {
      const k = free.choose(1, 0, context('a'));
      free.observeShadow(4, 0, 4, 'a');
      free.observeRound({ batchSize: 1, k, tokensPerRow: 1, seconds: k === 0 ? 1 : 2.2 });
    }
    expect(freeBest.mock.calls.length).toBeGreaterThanOrEqual(40);
  });
});
