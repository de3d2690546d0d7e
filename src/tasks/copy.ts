import type { RewardResult, Task, TaskPrompt } from './Task.js';

const LETTERS = 'abcdefghij';

/** `length` letters a–j drawn from `rng`. */
export function randomLetters(length: number, rng: () => number): string[] {
  return Array.from({ length }, () => LETTERS[Math.floor(rng() * LETTERS.length)]!);
}

/**
 * `copy`: the prompt is `copy <word>=`, the answer the word itself. The reward is the share of
 * the answer's characters reproduced at the right place (a prefix-weighted partial credit), so a
 * tiny model gets a learning signal long before it copies whole words. Copying from the prompt
 * is also exactly what n-gram and rollout-reuse drafters are good at.
 */
export const copyTask: Task = {
  name: 'copy',
  description: 'repeat the word after "copy " (reward: share of characters reproduced in place)',
  prompts(step: number, count: number, rng: () => number): TaskPrompt[] {
    return Array.from({ length: count }, (_, i) => {
      const length = 3 + Math.floor(rng() * 4);
      const word = randomLetters(length, rng).join('');
      return { promptId: `s${step}-p${i}`, text: `copy ${word}=`, answer: word };
    });
  },
  reward(prompt: TaskPrompt, completion: string): RewardResult {
    return { reward: characterMatch(prompt.answer, completion), valid: true };
  },
};

/** Share of `answer`'s characters equal at the same index in `completion` (0 … 1). */
export function characterMatch(answer: string, completion: string): number {
  if (answer.length === 0) return completion.length === 0 ? 1 : 0;
  let hits = 0;
  for (let i = 0; i < answer.length; i++) if (completion[i] === answer[i]) hits++;
  return hits / answer.length;
}
