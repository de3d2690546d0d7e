import type { Chance } from './chance.js';

/**
 * One sequence's verification input for one round.
 * - `draft`: the k proposed tokens x₁..x_k (k ≥ 0).
 * - `p`: the target's processed sampling distributions (temperature, top-k, top-p applied) at
 *   the k+1 positions: `p[i]` is the distribution of the token that follows the accepted
 *   prefix plus x₁..x_i, so `p[i]` scores `draft[i]` and `p[k]` gives the bonus token.
 * - `q`: the draft's processed distributions at the k positions (`q[i]` is what `draft[i]` was
 *   sampled from), or `null` for a drafter without probabilities (n-gram, rollout reuse): a
 *   point mass at each proposed token.
 */
export interface VerifyInput {
  readonly draft: readonly number[];
  readonly p: readonly ArrayLike<number>[];
  readonly q: readonly ArrayLike<number>[] | null;
}

/** What one round emits for one sequence. */
export interface VerifyResult {
  /** Draft tokens accepted (0..k); the bonus/replacement token is not counted. */
  readonly accepted: number;
  /** The tokens to append: draft[0..accepted) then one replacement (rejection) or bonus token. */
  readonly tokens: number[];
  /** True when all k drafts were accepted and the last token was sampled from p[k]. */
  readonly bonus: boolean;
}

/** The stochastic acceptance rule's signature (so a test can plug in a deliberately wrong one). */
export type AcceptanceRule = (input: VerifyInput, chance: Chance) => VerifyResult;

/**
 * Speculative sampling (Leviathan et al. 2023; REFERENCE.md): the emitted tokens are
 * distributed exactly as sampling from the target alone.
 *
 * 1. For i = 0..k−1: accept x = draft[i] with probability min(1, p[i](x) / q[i](x)); with a
 *    point-mass draft q[i](x) = 1, so the probability is p[i](x).
 * 2. At the first rejection, emit a replacement drawn from norm(max(0, p[i] − q[i])) and stop.
 *    For a point mass this is p[i] with x's probability zeroed and renormalised. If rounding
 *    leaves the residual with no mass (p ≈ q), the replacement is drawn from p[i] itself:
 *    that case has probability ~0 and p[i] is the residual's limit.
 * 3. If all k are accepted, emit a bonus token drawn from p[k].
 *
 * @example
 * const r = acceptStochastic({ draft: [3], p: [pRow0, pRow1], q: [qRow0] }, uniformChance(rng));
 * r.tokens; // [3, bonus] when accepted, [replacement] otherwise
 */
export function acceptStochastic(input: VerifyInput, chance: Chance): VerifyResult {
  const { draft, p, q } = input;
  checkShapes(input);
  for (let i = 0; i < draft.length; i++) {
    const x = draft[i]!;
    const pi = p[i]!;
    const px = pi[x]!;
    const qx = q === null ? 1 : q[i]![x]!;
    // q(x) = 0 cannot happen for a token drawn from q; treat it as "p covers it" (ratio ≥ 1).
    const ratio = qx > 0 ? px / qx : 1;
    if (chance.bernoulli(Math.min(1, ratio))) continue;
    const residual = new Float64Array(pi.length);
    let mass = 0;
    if (q === null) {
      for (let v = 0; v < pi.length; v++) residual[v] = v === x ? 0 : pi[v]!;
    } else {
      const qi = q[i]!;
      for (let v = 0; v < pi.length; v++) residual[v] = Math.max(0, pi[v]! - qi[v]!);
    }
    for (let v = 0; v < residual.length; v++) mass += residual[v]!;
    const replacement = mass > 0 ? chance.categorical(residual) : chance.categorical(pi);
    return { accepted: i, tokens: [...draft.slice(0, i), replacement], bonus: false };
  }
  const bonusToken = chance.categorical(p[draft.length]!);
  return { accepted: draft.length, tokens: [...draft, bonusToken], bonus: true };
}

/**
 * Greedy verification: accept while the draft token is the target's argmax; the first
 * mismatch emits the target's argmax; when all match, the argmax at position k is the bonus.
 * `targetArgmax[i]` is argmax p[i] for i = 0..k (raw logits: temperature 0).
 *
 * @example
 * acceptGreedy([5, 7, 2], [5, 7, 9, 4]); // { accepted: 2, tokens: [5, 7, 9], bonus: false }
 */
export function acceptGreedy(draft: readonly number[], targetArgmax: readonly number[]): VerifyResult {
  if (targetArgmax.length < draft.length + 1) {
    throw new Error(
      `acceptGreedy: need ${draft.length + 1} target argmax values for ${draft.length} draft tokens, received ${targetArgmax.length}`,
    );
  }
  let a = 0;
  while (a < draft.length && draft[a] === targetArgmax[a]) a++;
  return { accepted: a, tokens: [...draft.slice(0, a), targetArgmax[a]!], bonus: a === draft.length };
}

function checkShapes({ draft, p, q }: VerifyInput): void {
  if (p.length < draft.length + 1) {
    throw new Error(`acceptStochastic: need ${draft.length + 1} target rows p for ${draft.length} draft tokens, received ${p.length}`);
  }
  if (q !== null && q.length < draft.length) {
    throw new Error(`acceptStochastic: need ${draft.length} draft rows q for ${draft.length} draft tokens, received ${q.length}`);
  }
  const vocab = p[0]!.length;
  for (const x of draft) {
    if (!Number.isInteger(x) || x < 0 || x >= vocab) {
      throw new Error(`acceptStochastic: draft token ${x} is outside the target vocabulary [0, ${vocab})`);
    }
  }
}
