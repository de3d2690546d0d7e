/**
 * A reward task: generates prompts and scores completions with a verifiable reward.
 * A task is pure given its inputs: randomness arrives as `rng` (uniform in [0, 1)), so a run's
 * prompts are reproducible from its seed.
 *
 * Write your own: export an object satisfying `Task` from an ES module and pass
 * `--task ./path/to/task.js` (see docs/tasks.md).
 */
export interface TaskPrompt {
  readonly promptId: string;
  readonly text: string;
  /** Whatever the reward needs (the expected answer); serialisable. */
  readonly answer: string;
}

export interface RewardResult {
  readonly reward: number;
  /** false excludes the sample from its group's baseline (e.g. an unparseable answer). */
  readonly valid: boolean;
}

export interface Task {
  readonly name: string;
  readonly description: string;
  /** `count` prompts for `step`; ids must be unique within the run. */
  prompts(step: number, count: number, rng: () => number): TaskPrompt[];
  reward(prompt: TaskPrompt, completion: string): RewardResult;
}
