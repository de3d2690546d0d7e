import { describe, expect, it } from 'vitest';
import { addCounters, countersToJson, emptyCounters, observeDraft } from './counters.js';

describe('observeDraft', () => {
  it('matches the worked check of REFERENCE.md: 100 drafts, 300 tokens, 240 accepted → length 3.4, rate 0.8', () => {
    // 60 rounds accept 3, 20 accept 2, 20 accept 1: 180 + 40 + 20 = 240.
    let c = emptyCounters;
    for (let i = 0; i < 100; i++) c = observeDraft(c, 3, i < 60 ? 3 : i < 80 ? 2 : 1);
    expect(c.numDrafts).toBe(100);
    expect(c.numDraftTokens).toBe(300);
    expect(c.numAcceptedTokens).toBe(240);
    expect(1 + c.numAcceptedTokens / c.numDrafts).toBeCloseTo(3.4, 12);
    expect(c.numAcceptedTokens / c.numDraftTokens).toBeCloseTo(0.8, 12);
    expect(c.numAcceptedTokensPerPos).toEqual([100, 80, 60]);
  });
  it('sizes the per-position array to the configured k', () => {
    expect(observeDraft(emptyCounters, 2, 1, 4).numAcceptedTokensPerPos).toEqual([1, 0, 0, 0]);
  });
  it('ignores rounds without a draft and rejects accepted > proposed', () => {
    expect(observeDraft(emptyCounters, 0, 0)).toBe(emptyCounters);
    expect(() => observeDraft(emptyCounters, 2, 3)).toThrow(/accepted=3/);
  });
  it('adds element-wise and serialises with vLLM names', () => {
    const a = observeDraft(emptyCounters, 2, 2);
    const b = observeDraft(observeDraft(emptyCounters, 4, 3), 1, 0);
    expect(countersToJson(addCounters(a, b))).toEqual({
      num_drafts: 3,
      num_draft_tokens: 7,
      num_accepted_tokens: 5,
      num_accepted_tokens_per_pos: [2, 2, 1, 0],
    });
  });
});
