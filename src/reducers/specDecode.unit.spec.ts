import { describe, expect, it } from 'vitest';
import { createEventFactory, seededPrng } from '../events/factory.js';
import { aggregateCounters, diffCounters, emptyCounters, observeDraft, specDecodeMetrics } from './specDecode.js';
import { emptyMetricsState, foldEvents, foldStepMetrics, selectStepMetrics, selectWorkerCounters } from './stepMetrics.js';

const factory = (source: string) => createEventFactory({ runId: 'r', source, clock: () => 0, prng: seededPrng(source.length + source.charCodeAt(source.length - 1)) });
const draft = (f: ReturnType<typeof factory>, step: number, k: number, proposed: number, accepted: number) =>
  f.make('DraftVerified', step, { requestId: 'q', drafter: 'model', k, proposed, accepted, emitted: accepted + 1 });

describe('spec-decode counters (REFERENCE.md)', () => {
  it('observe_draft counts drafts, tokens, accepted and accepted positions', () => {
    let c = observeDraft(emptyCounters, 4, 2);
    c = observeDraft(c, 4, 4);
    c = observeDraft(c, 2, 0, 4);
    c = observeDraft(c, 0, 0); // no draft token: not a draft
    expect(c).toEqual({ numDrafts: 3, numDraftTokens: 10, numAcceptedTokens: 6, numAcceptedTokensPerPos: [2, 2, 1, 1] });
  });

  it('worked check: 100 drafts, 300 draft tokens, 240 accepted → acceptance_length 3.4, acceptance_rate 0.8', () => {
    const a = factory('w0');
    const b = factory('w1');
    // 40 rounds accept all 3, 60 rounds accept 2 (split over two workers): 240 accepted.
    const events = [
      ...Array.from({ length: 40 }, () => draft(a, 1, 3, 3, 3)),
      ...Array.from({ length: 60 }, () => draft(b, 1, 3, 3, 2)),
    ];
    const [m] = foldStepMetrics(events);
    expect(m).toEqual({
      step: 1,
      'spec_decode/num_drafts': 100,
      'spec_decode/num_draft_tokens': 300,
      'spec_decode/num_accepted_tokens': 240,
      'spec_decode/acceptance_rate': 0.8,
      'spec_decode/acceptance_length': 3.4,
      'spec_decode/acceptance_rate_pos_1': 1,
      'spec_decode/acceptance_rate_pos_2': 1,
      'spec_decode/acceptance_rate_pos_3': 0.4,
      'spec_decode/draft_efficiency': 3.4 / 4,
    });
  });

  it('a step with no drafts has defined values (no division by zero)', () => {
    const f = factory('w0');
    const [m] = foldStepMetrics([f.make('StepStarted', 3, { prompts: 1, groupSize: 2, weightsVersion: 0 }), draft(f, 3, 4, 0, 0)]);
    expect(m).toEqual({
      step: 3,
      'spec_decode/num_drafts': 0,
      'spec_decode/num_draft_tokens': 0,
      'spec_decode/num_accepted_tokens': 0,
      'spec_decode/acceptance_rate': 0,
      'spec_decode/acceptance_length': 1,
      'spec_decode/draft_efficiency': 1,
    });
    expect(Object.values(specDecodeMetrics(emptyCounters, 0)).every(Number.isFinite)).toBe(true);
  });

  it('draft_efficiency uses the mean k of the step under adaptive k', () => {
    const f = factory('w0');
    const [m] = foldStepMetrics([draft(f, 1, 2, 2, 2), draft(f, 1, 6, 6, 0)]); // mean k 4, length 1 + 2/2 = 2
    expect(m!['spec_decode/acceptance_length']).toBe(2);
    expect(m!['spec_decode/draft_efficiency']).toBe(2 / 5);
    expect(m!['spec_decode/acceptance_rate_pos_6']).toBe(0);
  });

  it("a step's metrics are the aggregate after the step minus the aggregate before it", () => {
    const a = factory('w0');
    const b = factory('w1');
    const state = foldEvents(emptyMetricsState, [draft(a, 1, 4, 4, 1), draft(b, 1, 4, 3, 3), draft(a, 2, 4, 4, 4), draft(b, 2, 2, 2, 1), draft(a, 2, 4, 2, 0)]);
    const before = aggregateCounters(selectWorkerCounters(state, 1).values());
    const after = aggregateCounters(selectWorkerCounters(state, 2).values());
    const delta = diffCounters(after, before);
    expect(delta).toEqual({ numDrafts: 3, numDraftTokens: 8, numAcceptedTokens: 5, numAcceptedTokensPerPos: [2, 1, 1, 1] });
    const step2 = selectStepMetrics(state)[1]!;
    expect(step2['spec_decode/num_drafts']).toBe(3);
    expect(step2['spec_decode/acceptance_rate_pos_1']).toBe(2 / 3);
    expect(selectWorkerCounters(state).get('w0')).toEqual({ numDrafts: 3, numDraftTokens: 10, numAcceptedTokens: 5, numAcceptedTokensPerPos: [2, 1, 1, 1] });
  });

  it('drops duplicate event ids within and across batches', () => {
    const f = factory('w0');
    const e1 = draft(f, 1, 4, 4, 2);
    const e2 = draft(f, 1, 4, 4, 4);
    const once = foldStepMetrics([e1, e2]);
    const s1 = foldEvents(emptyMetricsState, [e1, e1, e2]);
    const s2 = foldEvents(s1, [e2, e1]);
    expect(selectStepMetrics(s2)).toEqual(once);
    expect(once[0]!['spec_decode/num_drafts']).toBe(2);
    expect(s2).not.toBe(s1);
    expect(selectStepMetrics(s1)).toEqual(once); // s1 was not changed by folding into s2
  });

  it('selects one worker and a step range', () => {
    const a = factory('w0');
    const b = factory('w1');
    const events = [draft(a, 1, 4, 4, 4), draft(b, 1, 4, 4, 0), draft(a, 2, 4, 4, 2)];
    const onlyA = foldStepMetrics(events, { worker: 'w0' });
    expect(onlyA.map((m) => m['spec_decode/acceptance_rate'])).toEqual([1, 0.5]);
    expect(foldStepMetrics(events, { fromStep: 2 }).map((m) => m.step)).toEqual([2]);
    expect(foldStepMetrics(events, { toStep: 1 }).map((m) => m.step)).toEqual([1]);
  });

  it('adds reward, rollout and training metrics when present', () => {
    const g = factory('gen');
    const t = factory('trainer');
    const events = [
      g.make('RewardAssigned', 1, { requestId: 'a', promptId: 'p', groupIndex: 0, reward: 1, valid: true, components: { correct: 1 } }),
      g.make('RewardAssigned', 1, { requestId: 'b', promptId: 'p', groupIndex: 1, reward: 0, valid: true, components: { correct: 0 } }),
      g.make('RolloutCompleted', 1, { requestId: 'a', promptId: 'p', groupIndex: 0, tokenIds: [1, 2, 3], logprobs: [-1, -1, -1], finishReason: 'stop', weightsVersion: 0 }),
      t.make('PolicyUpdated', 1, { model: 'policy', loss: 0.5, gradNorm: 2, lr: 1e-5, weightsVersion: 2, metrics: { kl: 0.01 } }),
      t.make('PolicyUpdated', 1, { model: 'policy', loss: 0.9, gradNorm: 3, lr: 1e-5, weightsVersion: 1, metrics: { kl: 0.02 } }),
    ];
    const [m] = foldStepMetrics(events);
    expect(m).toMatchObject({
      'reward/mean': 0.5,
      'reward/count': 2,
      'reward/correct/mean': 0.5,
      'rollout/count': 1,
      'rollout/mean_length': 3,
      'train/loss': 0.5,
      'train/grad_norm': 2,
      'train/lr': 1e-5,
      'train/weights_version': 2,
      'train/kl': 0.01,
    });
  });
});
