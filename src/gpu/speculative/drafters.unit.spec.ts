import { describe, expect, it } from 'vitest';
import type { RolloutCompleted } from '../../events/index.js';
import { Xoshiro128 } from '../sampling/rng.js';
import { lookupContinuation, type DraftSequence } from './drafter.js';
import { NgramDrafter } from './ngramDrafter.js';
import { ReuseDrafter } from './reuseDrafter.js';

const sampling = { temperature: 0, topK: 0, topP: 1, maxNewTokens: 8, seed: 1, stopTokenIds: [], stopStrings: [] };
function seq(id: string, promptId: string, prompt: number[], generated: number[]): DraftSequence {
  return { id, promptId, groupIndex: 0, tokens: [...prompt, ...generated], promptLength: prompt.length, sampling, rng: new Xoshiro128(1) };
}
function completed(requestId: string, promptId: string, tokenIds: number[]): RolloutCompleted {
  return {
    id: requestId, type: 'RolloutCompleted', version: 1, runId: 'r', step: 0, source: 's', seq: 0, time: 0,
    data: { requestId, promptId, groupIndex: 0, tokenIds, logprobs: tokenIds.map(() => -1), finishReason: 'length', weightsVersion: 0 },
  };
}

describe('lookupContinuation', () => {
  it('returns the continuation of the latest match, not the first', () => {
    expect(lookupContinuation([1, 2, 9, 1, 2, 7, 1, 2], [1, 2, 9, 1, 2, 7, 1, 2], 2, 3, true)).toEqual([7, 1, 2]);
  });
  it('returns [] without a match or when the match is the suffix itself', () => {
    expect(lookupContinuation([1, 2, 3], [1, 2, 3], 2, 3, true)).toEqual([]);
    expect(lookupContinuation([4], [1, 2, 3], 1, 3, false)).toEqual([]);
  });
});

describe('NgramDrafter', () => {
  it('proposes the continuation of the longest matching n-gram (prompt lookup)', async () => {
    const d = new NgramDrafter({ maxN: 3 });
    // suffix "5 6 7" occurs earlier followed by 8 9; "6 7" alone occurs later followed by 1.
    const tokens = [5, 6, 7, 8, 9, 0, 6, 7, 1, 3, 5, 6, 7];
    expect(d.proposeOne(tokens, 2)).toEqual([8, 9]);
    const [draft] = await d.propose([seq('a', 'p', tokens, [])], 4);
    expect(draft).toEqual({ tokens: [8, 9, 0, 6], q: null });
  });
  it('falls back to shorter n-grams and proposes nothing without any match', () => {
    const d = new NgramDrafter({ maxN: 3 });
    expect(d.proposeOne([1, 2, 3, 4, 3], 2)).toEqual([4, 3]);
    expect(d.proposeOne([1, 2, 3, 4], 2)).toEqual([]);
  });
  it('validates its options', () => {
    expect(() => new NgramDrafter({ minN: 0 })).toThrow(/minN=0/);
  });
});

describe('ReuseDrafter', () => {
  it('proposes the next tokens of an earlier rollout of the same prompt while it is a prefix', async () => {
    const d = new ReuseDrafter();
    d.observe(completed('old', 'p1', [10, 11, 12, 13, 14]));
    d.observe(completed('other', 'p2', [20, 21, 22]));
    const [a, b, c] = await d.propose(
      [seq('new', 'p1', [1, 2], []), seq('new2', 'p1', [1, 2], [10, 11]), seq('new3', 'p3', [1, 2], [])],
      3,
    );
    expect(a!.tokens).toEqual([10, 11, 12]);
    expect(b!.tokens).toEqual([12, 13, 14]);
    expect(c!.tokens).toEqual([]);
    expect(a!.q).toBeNull();
  });
  it('prefers the newest matching rollout and looks up n-grams after diverging', async () => {
    const d = new ReuseDrafter();
    d.observe(completed('r1', 'p', [1, 2, 3, 4]));
    d.observe(completed('r2', 'p', [1, 2, 5, 6]));
    expect((await d.propose([seq('x', 'p', [0], [1, 2])], 2))[0]!.tokens).toEqual([5, 6]);
    // diverged: generated [9, 3] is no prefix; "3" occurs in r1 followed by 4
    expect((await d.propose([seq('x', 'p', [0], [9, 3])], 2))[0]!.tokens).toEqual([4]);
  });
  it('never drafts a sequence from its own rollout and keeps at most maxPerPrompt', () => {
    const d = new ReuseDrafter({ maxPerPrompt: 2 });
    for (let i = 0; i < 5; i++) d.observe(completed(`r${i}`, 'p', [i]));
    expect(d.stored('p')).toBe(2);
    d.observe(completed('r4', 'p', [7])); // same request again: replaced, not duplicated
    expect(d.stored('p')).toBe(2);
  });
});
