import { describe, expect, it } from 'vitest';
import { builtinTasks, loadTask } from './index.js';
import { characterMatch } from './copy.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('tasks', () => {
  it('characterMatch gives partial credit by position', () => {
    expect(characterMatch('abcd', 'abcd')).toBe(1);
    expect(characterMatch('abcd', 'abxd')).toBe(0.75);
    expect(characterMatch('abcd', 'bcd')).toBe(0);
    expect(characterMatch('abcd', '')).toBe(0);
  });

  it('copy rewards the copied word and its prompts are reproducible from the rng', () => {
    const t = builtinTasks['copy']!;
    const a = t.prompts(3, 4, lcg(7));
    expect(t.prompts(3, 4, lcg(7))).toEqual(a);
    expect(new Set(a.map((p) => p.promptId)).size).toBe(4);
    for (const p of a) {
      expect(p.text).toBe(`copy ${p.answer}=`);
      expect(t.reward(p, p.answer).reward).toBe(1);
      expect(t.reward(p, 'zzzzzzz').reward).toBe(0);
    }
  });

  it('sort expects the letters in order', () => {
    const t = builtinTasks['sort']!;
    const [p] = t.prompts(0, 1, lcg(1));
    const letters = p!.text.slice(5, -1);
    expect(p!.answer).toBe([...letters].sort().join(''));
  });

  it('names unknown tasks in the error', async () => {
    await expect(loadTask('nope')).rejects.toThrow(/unknown task "nope".*copy, sort/);
  });
});
