/**
 * vLLM-style speculative-decoding counters (`SpecDecodingStats`; REFERENCE.md), monotonically
 * increasing per worker. Plain data so it serialises into events and JSON output as is.
 */
export interface SpecDecodeCounters {
  /** Verification rounds that had ≥ 1 draft token. */
  readonly numDrafts: number;
  /** Draft tokens proposed. */
  readonly numDraftTokens: number;
  /** Draft tokens accepted (bonus/replacement tokens not counted). */
  readonly numAcceptedTokens: number;
  /** `[i]`: rounds whose draft token at 0-based position i was accepted. */
  readonly numAcceptedTokensPerPos: readonly number[];
}

export const emptyCounters: SpecDecodeCounters = {
  numDrafts: 0,
  numDraftTokens: 0,
  numAcceptedTokens: 0,
  numAcceptedTokensPerPos: [],
};

/**
 * `observe_draft(n, a)`: one verification round that proposed `proposed` tokens and accepted
 * `accepted` of them. Rounds with no draft token change nothing (vLLM counts only rounds with
 * a draft). Same semantics as the reducer's fold of `DraftVerified` (src/reducers/specDecode.ts),
 * so counters rebuilt from the events equal the engine's.
 *
 * 1. Check 0 ≤ accepted ≤ proposed (integers): a violation is a bug upstream, so it throws.
 * 2. drafts += 1, draft_tokens += proposed, accepted_tokens += accepted.
 * 3. per_pos[i] += 1 for i < accepted; the array grows to at least `positions` (the round's
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
    numAcceptedTokensPerPos: Array.from(
      { length: n },
      (_, i) => (a.numAcceptedTokensPerPos[i] ?? 0) + (b.numAcceptedTokensPerPos[i] ?? 0),
    ),
  };
}

/** The `stats` object of `specstream generate --format json` (snake_case, as vLLM names them). */
export function countersToJson(c: SpecDecodeCounters): {
  num_drafts: number;
  num_draft_tokens: number;
  num_accepted_tokens: number;
  num_accepted_tokens_per_pos: number[];
} {
  return {
    num_drafts: c.numDrafts,
    num_draft_tokens: c.numDraftTokens,
    num_accepted_tokens: c.numAcceptedTokens,
    num_accepted_tokens_per_pos: [...c.numAcceptedTokensPerPos],
  };
}
