import type { SpecDecodeCounters } from '../../events/specDecodeCounters.js';

/** The counters are defined once, beside the event they count (src/events/specDecodeCounters.ts). */
export { addCounters, emptyCounters, observeDraft, type SpecDecodeCounters } from '../../events/specDecodeCounters.js';

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
