import { describe, expect, it } from 'vitest';
import { acceptGreedy, acceptStochastic, type AcceptanceRule, type VerifyInput } from './acceptance.js';
import { uniformChance, type Chance } from './chance.js';
import { enumerateOutcomes } from './enumerateChance.js';

// Toy autoregressive "models": a distribution over V tokens for every prefix, derived from a
// hash of the prefix, with some entries zeroed (as top-k / top-p would).
const V = 5;
function toyDist(seed: number, prefix: readonly number[]): Float64Array {
  let h = seed >>> 0;
  for (const t of prefix) h = Math.imul(h ^ (t + 0x9e3779b9), 0x85ebca6b) >>> 0;
  const d = new Float64Array(V);
  let sum = 0;
  for (let v = 0; v < V; v++) {
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    const u = (h >>> 8) / (1 << 24);
    d[v] = u < 0.2 ? 0 : u * u; // ~20% of tokens masked out
    sum += d[v]!;
  }
  if (sum === 0) d[0] = sum = 1;
  for (let v = 0; v < V; v++) d[v]! /= sum;
  return d;
}

function allSequences(n: number): number[][] {
  if (n === 0) return [[]];
  return allSequences(n - 1).flatMap((s) => Array.from({ length: V }, (_, v) => [...s, v]));
}

function targetProb(seed: number, ctx: readonly number[], seq: readonly number[]): number {
  let prob = 1;
  for (let i = 0; i < seq.length; i++) prob *= toyDist(seed, [...ctx, ...seq.slice(0, i)])[seq[i]!]!;
  return prob;
}

/**
 * Exact distribution of the first k+1 tokens when one speculative round (drafts from q, or the
 * fixed point-mass `pointDraft`) is followed by plain sampling from p up to k+1 tokens.
 */
function speculativeJoint(
  rule: AcceptanceRule,
  k: number,
  ctx: readonly number[],
  draftSource: { qSeed: number } | { pointDraft: readonly number[] },
): Map<string, number> {
  const P_SEED = 11;
  const joint = new Map<string, number>();
  const outcomes = enumerateOutcomes((chance: Chance) => {
    let draft: number[];
    let q: Float64Array[] | null;
    if ('qSeed' in draftSource) {
      draft = [];
      q = [];
      for (let i = 0; i < k; i++) {
        const qi = toyDist(draftSource.qSeed, [...ctx, ...draft]);
        q.push(qi);
        draft.push(chance.categorical(qi));
      }
    } else {
      draft = [...draftSource.pointDraft];
      q = null;
    }
    const p = Array.from({ length: k + 1 }, (_, i) => toyDist(P_SEED, [...ctx, ...draft.slice(0, i)]));
    const input: VerifyInput = { draft, p, q };
    return rule(input, chance).tokens;
  });
  for (const { value: emitted, prob } of outcomes) {
    for (const seq of allSequences(k + 1)) {
      if (!emitted.every((t, i) => seq[i] === t)) continue;
      const rest = seq.slice(emitted.length);
      const pRest = targetProb(P_SEED, [...ctx, ...emitted], rest);
      const key = seq.join(',');
      joint.set(key, (joint.get(key) ?? 0) + prob * pRest);
    }
  }
  return joint;
}

function maxDeviation(rule: AcceptanceRule, k: number, source: { qSeed: number } | { pointDraft: readonly number[] }): number {
  const ctx = [1, 3];
  const joint = speculativeJoint(rule, k, ctx, source);
  let worst = 0;
  let total = 0;
  for (const seq of allSequences(k + 1)) {
    const spec = joint.get(seq.join(',')) ?? 0;
    total += spec;
    worst = Math.max(worst, Math.abs(spec - targetProb(11, ctx, seq)));
  }
  expect(total).toBeCloseTo(1, 12);
  return worst;
}

// Deliberately wrong rules: each must be caught by the same exact test.
const replacementFromP: AcceptanceRule = (input, chance) => {
  const r = acceptStochastic({ ...input, draft: input.draft }, chance);
  if (r.bonus) return r;
  // Re-draw the replacement from p instead of norm(max(0, p − q)).
  const tokens = [...r.tokens.slice(0, -1), chance.categorical(input.p[r.accepted]!)];
  return { ...r, tokens };
};
// Accepts with min(1, q/p) instead of min(1, p/q), residual as usual.
const invertedRatio: AcceptanceRule = (input, chance) => {
  const { draft, p, q } = input;
  for (let i = 0; i < draft.length; i++) {
    const x = draft[i]!;
    const ratio = p[i]![x]! > 0 ? q![i]![x]! / p[i]![x]! : 0;
    if (chance.bernoulli(Math.min(1, ratio))) continue;
    const residual = Array.from(p[i]!, (pv, v) => Math.max(0, pv - q![i]![v]!));
    return { accepted: i, tokens: [...draft.slice(0, i), chance.categorical(residual)], bonus: false };
  }
  return { accepted: draft.length, tokens: [...draft, chance.categorical(p[draft.length]!)], bonus: true };
};
// Not wrong, only slower: the point-mass rule is lossless for any proposal, random ones too.
const ignoreDraftProbs: AcceptanceRule = (input, chance) => acceptStochastic({ ...input, q: null }, chance);

describe('acceptStochastic (exact output distribution by enumeration)', () => {
  for (const k of [1, 2, 3]) {
    it(`equals the target's joint distribution with a draft model, k = ${k}`, () => {
      expect(maxDeviation(acceptStochastic, k, { qSeed: 29 })).toBeLessThan(1e-12);
    });
  }
  it('equals the target with a point-mass draft, for every fixed proposal (k = 2)', () => {
    for (const pointDraft of allSequences(2)) {
      expect(maxDeviation(acceptStochastic, 2, { pointDraft })).toBeLessThan(1e-12);
    }
  });
  it('a wrong rule (replacement drawn from p, not the residual) fails the same test', () => {
    expect(maxDeviation(replacementFromP, 2, { qSeed: 29 })).toBeGreaterThan(1e-3);
  });
  it('a wrong rule (acceptance ratio q/p instead of p/q) fails the same test', () => {
    expect(maxDeviation(invertedRatio, 2, { qSeed: 29 })).toBeGreaterThan(1e-3);
  });
  it('the point-mass rule stays lossless on drafts sampled from q (it ignores q, so only accepts less)', () => {
    expect(maxDeviation(ignoreDraftProbs, 2, { qSeed: 29 })).toBeLessThan(1e-12);
  });
  it('accepts everything and emits a bonus when p = q', () => {
    const d = toyDist(3, []);
    const r = acceptStochastic({ draft: [d.indexOf(Math.max(...d))], p: [d, d], q: [d] }, uniformChance({ next: () => 0.999 }));
    expect(r.accepted).toBe(1);
    expect(r.bonus).toBe(true);
    expect(r.tokens).toHaveLength(2);
  });
  it('always rejects a token the target gives probability 0 and never replaces with it', () => {
    const p = Float64Array.from([0, 0.5, 0.5, 0, 0]);
    const q = Float64Array.from([1, 0, 0, 0, 0]);
    for (const u of [0, 0.3, 0.7, 0.99]) {
      const r = acceptStochastic({ draft: [0], p: [p, p], q: [q] }, uniformChance({ next: () => u }));
      expect(r.accepted).toBe(0);
      expect([1, 2]).toContain(r.tokens[0]);
    }
  });
  it('names the mismatch when p has too few rows or a token is outside the vocabulary', () => {
    const p = toyDist(1, []);
    expect(() => acceptStochastic({ draft: [1, 2], p: [p, p], q: null }, uniformChance({ next: () => 0 }))).toThrow(/need 3 target rows/);
    expect(() => acceptStochastic({ draft: [7], p: [p, p], q: null }, uniformChance({ next: () => 0 }))).toThrow(/outside the target vocabulary \[0, 5\)/);
  });
});

describe('acceptGreedy', () => {
  it('accepts the matching prefix and emits the argmax at the first mismatch', () => {
    expect(acceptGreedy([5, 7, 2], [5, 7, 9, 4])).toEqual({ accepted: 2, tokens: [5, 7, 9], bonus: false });
    expect(acceptGreedy([1], [2, 3])).toEqual({ accepted: 0, tokens: [2], bonus: false });
  });
  it('emits the bonus argmax when every draft matches, and one token for k = 0', () => {
    expect(acceptGreedy([5, 7], [5, 7, 4])).toEqual({ accepted: 2, tokens: [5, 7, 4], bonus: true });
    expect(acceptGreedy([], [8])).toEqual({ accepted: 0, tokens: [8], bonus: true });
  });
});

describe('enumerateOutcomes', () => {
  it('gives exact probabilities that sum to 1', () => {
    const out = enumerateOutcomes((c) => (c.bernoulli(0.25) ? 'a' : c.categorical([1, 3]) === 0 ? 'b' : 'c'));
    const byValue = Object.fromEntries(out.map((o) => [o.value, o.prob]));
    expect(byValue).toEqual({ a: 0.25, b: 0.1875, c: 0.5625 });
  });
});
