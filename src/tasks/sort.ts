import type { RewardResult, Task, TaskPrompt } from './Task.js';
import { characterMatch, randomLetters } from './copy.js';

/** `sort`: the prompt is `sort <letters>=`, the answer the letters in alphabetical order. */
export const sortTask: Task = {
  name: 'sort',
  description: 'sort the letters after "sort " (reward: share of characters in place)',
  prompts(step: number, count: number, rng: () => number): TaskPrompt[] {
    return Array.from({ length: count }, (_, i) => {
      const length = 3 + Math.floor(rng() * 3);
      const letters = randomLetters(length, rng);
      return { promptId: `s${step}-p${i}`, text: `sort ${letters.join('')}=`, answer: [...letters].sort().join('') };
    });
  },
  reward(prompt: TaskPrompt, completion: string): RewardResult {
    return { reward: characterMatch(prompt.answer, completion), valid: true };
  },
};
