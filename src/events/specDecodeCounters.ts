/**
 * The meaning of `DraftVerified` in counters: vLLM's `SpecDecodingStats` (REFERENCE.md),
 * monotonically increasing per worker. One definition shared by the engine that counts live
 * (src/gpu/speculative) and the reducers that rebuild the counters from the log
 * (src/reducers/specDecode.ts), so "counters rebuilt from events equal the engine's" holds by
 * construction. Plain data: serialises into events and JSON as is.
 */
export type SpecDecodeCounters = Readonly<{
  /** Verification rounds that had ≥ 1 draft token. */
  numDrafts: number;
  /** Draft tokens proposed. */
  numDraftTokens: number;
  /** Draft tokens accepted (bonus/replacement tokens not counted). */
  numAcceptedTokens: number;
  /** [i] = rounds whose draft token at 0-based position i was accepted. */
  numAcceptedTokensPerPos: readonly number[];
}>;

export const emptyCounters: SpecDecodeCounters = {
  numDrafts: 0,
  numDraftTokens: 0,
  numAcceptedTokens: 0,
  numAcceptedTokensPerPos: [],
};

/**
 * `observe_draft(n, a)`: one verification round that proposed `proposed` tokens and accepted
 * `accepted` of them.
 *
 * 1. Check 0 ≤ accepted ≤ proposed (integers): a violation is a bug upstream, so it throws.
 * 2. A round with no draft token is not a draft: counters unchanged.
 * 3. drafts += 1, draft_tokens += proposed, accepted_tokens += accepted.
 * 4. per_pos[i] += 1 for i < accepted; the array grows to at least `positions` (the round's
 *    configured k, as vLLM sizes it to num_spec_tokens).
 *
 * @example
 * observeDraft(emptyCounters, 3, 2).numAcceptedTokensPerPos; // [1, 1, 0]
 */
export function observeDraft(c: SpecDecodeCounters, proposed: number, accepted: number, positions = proposed): SpecDecodeCounters {
  if (!Number.isInteger(proposed) || !Number.isInteger(accepted) || accepted < 0 || accepted > proposed) {
    throw new Error(`observeDraft: need integers 0 ≤ accepted ≤ proposed, received proposed=${proposed}, accepted=${accepted}`);
  }
  if (proposed === 0) return c;
  const len = Math.max(c.numAcceptedTokensPerPos.length, positions, proposed);
  const perPos = Array.from({ length: len }, (_, i) => (c.numAcceptedTokensPerPos[i] ?? 0) + (i < accepted ? 1 : 0));
  return {
    numDrafts: c.numDrafts + 1,
    numDraftTokens: c.numDraftTokens + proposed,
    numAcceptedTokens: c.numAcceptedTokens + accepted,
    numAcceptedTokensPerPos: perPos,
  };
}

/** Sum of two counter sets (aggregation across workers; per position element-wise). */
export function addCounters(a: SpecDecodeCounters, b: SpecDecodeCounters): SpecDecodeCounters {
  const n = Math.max(a.numAcceptedTokensPerPos.length, b.numAcceptedTokensPerPos.length);
  return {
    numDrafts: a.numDrafts + b.numDrafts,
    numDraftTokens: a.numDraftTokens + b.numDraftTokens,
    numAcceptedTokens: a.numAcceptedTokens + b.numAcceptedTokens,
    numAcceptedTokensPerPos: Array.from({ length: n }, (_, i) => (a.numAcceptedTokensPerPos[i] ?? 0) + (b.numAcceptedTokensPerPos[i] ?? 0)),
  };
}
