import { filter, map, type OperatorFunction } from 'rxjs';
import type { EventFactory } from '../../events/factory.js';
import type { RewardAssigned, RolloutCompleted, SpecstreamEvent } from '../../events/index.js';
import type { Task, TaskPrompt } from '../../tasks/index.js';

export interface AssignRewardsOptions {
  readonly task: Task;
  /** The prompt each rollout answers, by promptId. */
  readonly prompts: ReadonlyMap<string, TaskPrompt>;
  /** Token ids → text (the policy's tokenizer). */
  readonly decode: (tokenIds: readonly number[]) => string;
  readonly events: EventFactory;
}

/**
 * Scores every `RolloutCompleted` with the task's verifiable reward.
 *
 * 1. Other events pass by untouched (filtered out).
 * 2. The rollout's tokens are decoded to text and handed to `task.reward` with its prompt.
 * 3. A reward that is not a finite number is a task bug: the error names the task and request.
 *
 * @example
 * rollouts$.pipe(assignRewards({ task: copyTask, prompts, decode, events }))
 */
export function assignRewards(options: AssignRewardsOptions): OperatorFunction<SpecstreamEvent, RewardAssigned> {
  const { task, prompts, decode, events } = options;
  return (source) =>
    source.pipe(
      filter((e): e is RolloutCompleted => e.type === 'RolloutCompleted'),
      map((e) => {
        const prompt = prompts.get(e.data.promptId);
        if (!prompt) throw new Error(`assignRewards: no prompt "${e.data.promptId}" for request ${e.data.requestId}`);
        const { reward, valid } = task.reward(prompt, decode(e.data.tokenIds));
        if (!Number.isFinite(reward)) {
          throw new Error(`task ${task.name} returned a non-finite reward (${reward}) for request ${e.data.requestId}`);
        }
        return events.make('RewardAssigned', e.step, {
          requestId: e.data.requestId,
          promptId: e.data.promptId,
          groupIndex: e.data.groupIndex,
          reward,
          valid,
        });
      }),
    );
}
