import { describe, expect, it } from 'vitest';
import { TestScheduler } from 'rxjs/testing';
import { createEventFactory } from '../../events/factory.js';
import { copyTask } from '../../tasks/copy.js';
import { assignRewards } from './assignRewards.js';

const gen = createEventFactory({ runId: 'r', source: 'gen-0', clock: () => 1000 });
const trainer = createEventFactory({ runId: 'r', source: 'trainer', clock: () => 2000 });
const prompt = { promptId: 'p0', text: 'copy abc=', answer: 'abc' };
const chars = 'abcdefghijklmnopqrstuvwxyz';
const decode = (ids: readonly number[]) => ids.map((i) => chars[i]).join('');

function completed(requestId: string, tokenIds: number[]) {
  return gen.make('RolloutCompleted', 1, {
    requestId, promptId: 'p0', groupIndex: 0, tokenIds, logprobs: tokenIds.map(() => -1),
    finishReason: 'length', weightsVersion: 0,
  });
}

describe('assignRewards', () => {
  it('scores completed rollouts only, keeps their identity, and subscribes once', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable, expectSubscriptions }) => {
      const started = gen.make('StepStarted', 1, { prompts: 1, groupSize: 2, weightsVersion: 0 });
      const good = completed('q0', [0, 1, 2]);
      const half = completed('q1', [0, 9, 9]);
      const src = cold('a-b-c|', { a: started, b: good, c: half });
      const out = src.pipe(
        assignRewards({ task: copyTask, prompts: new Map([['p0', prompt]]), decode, events: trainer }),
      );
      const rewards: number[] = [];
      out.subscribe((e) => rewards.push(e.data.reward));
      expectSubscriptions(src.subscriptions).toBe(['^----!', '^----!']);
      expectObservable(out.pipe()).toBe('--x-y|', {
        x: expect.objectContaining({ type: 'RewardAssigned', data: { requestId: 'q0', promptId: 'p0', groupIndex: 0, reward: 1, valid: true } }),
        y: expect.objectContaining({ type: 'RewardAssigned', data: expect.objectContaining({ requestId: 'q1', reward: 1 / 3 }) }),
      });
    });
  });

  it('names the request when its prompt is unknown', () => {
    const out = assignRewards({ task: copyTask, prompts: new Map(), decode, events: trainer });
    let error: unknown;
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold }) => {
      cold('a|', { a: completed('q9', [0]) }).pipe(out).subscribe({ error: (e) => (error = e) });
    });
    expect(String(error)).toMatch(/no prompt "p0" for request q9/);
  });
});
