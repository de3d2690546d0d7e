/**
 * vLLM-style speculative-decoding counters (REFERENCE.md "Counters and metrics") and the
 * derived metrics, as pure functions over plain data.
 */

import { addCounters, emptyCounters, type SpecDecodeCounters } from '../events/specDecodeCounters.js';

export { addCounters, emptyCounters, observeDraft, type SpecDecodeCounters } from '../events/specDecodeCounters.js';

const zip = (a: readonly number[], b: readonly number[], f: (x: number, y: number) => number): number[] =>
  Array.from({ length: Math.max(a.length, b.length) }, (_, i) => f(a[i] ?? 0, b[i] ?? 0));

/** Aggregation across workers: the sum of each counter. */
export function aggregateCounters(workers: Iterable<SpecDecodeCounters>): SpecDecodeCounters {
  let sum = emptyCounters;
  for (const w of workers) sum = addCounters(sum, w);
  return sum;
}

/** A step's counters: the aggregate after the step minus the aggregate before it. */
export function diffCounters(after: SpecDecodeCounters, before: SpecDecodeCounters): SpecDecodeCounters {
  const perPos = zip(after.numAcceptedTokensPerPos, before.numAcceptedTokensPerPos, (x, y) => x - y);
  return {
    numDrafts: after.numDrafts - before.numDrafts,
    numDraftTokens: after.numDraftTokens - before.numDraftTokens,
    numAcceptedTokens: after.numAcceptedTokens - before.numAcceptedTokens,
    numAcceptedTokensPerPos: perPos,
  };
}

/**
 * The derived `spec_decode/*` metrics of a step's counter delta. `meanK` is the draft length
 * the step used (the mean `k` of its drafts under adaptive k). Defined without drafts:
 * acceptance_rate 0, acceptance_length 1, draft_efficiency 1 / (meanK + 1) (= 1 when meanK is 0).
 *
 * - acceptance_rate = accepted / draft_tokens
 * - acceptance_length = 1 + accepted / drafts (mean tokens per verification, bonus included)
 * - acceptance_rate_pos_{i} = per_pos[i − 1] / drafts, i = 1..per_pos.length
 * - draft_efficiency = acceptance_length / (meanK + 1)
 */
export function specDecodeMetrics(delta: SpecDecodeCounters, meanK: number): Record<string, number> {
  const { numDrafts, numDraftTokens, numAcceptedTokens, numAcceptedTokensPerPos } = delta;
  const acceptanceLength = numDrafts > 0 ? 1 + numAcceptedTokens / numDrafts : 1;
  const m: Record<string, number> = {
    'spec_decode/num_drafts': numDrafts,
    'spec_decode/num_draft_tokens': numDraftTokens,
    'spec_decode/num_accepted_tokens': numAcceptedTokens,
    'spec_decode/acceptance_rate': numDraftTokens > 0 ? numAcceptedTokens / numDraftTokens : 0,
    'spec_decode/acceptance_length': acceptanceLength,
  };
  numAcceptedTokensPerPos.forEach((count, i) => {
    m[`spec_decode/acceptance_rate_pos_${i + 1}`] = numDrafts > 0 ? count / numDrafts : 0;
  });
  m['spec_decode/draft_efficiency'] = acceptanceLength / (meanK + 1);
  return m;
}
