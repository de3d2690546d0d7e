import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEventLog } from '../../src/streams/log/MemoryEventLog.js';
import { parseRunConfig } from '../../src/streams/pipeline/runConfig.js';
import { runGrpo } from '../../src/streams/pipeline/grpoRun.js';
import type { Task } from '../../src/tasks/index.js';

/**
 * The whole loop learns in the right direction: a reward the bundled policy rarely earns at
 * first (its answer starts with "a") must become common within a few GRPO steps. A sign error
 * anywhere — advantages, loss, the batch layout, refit — makes the reward fall or stay put.
 */
const startsWithA: Task = {
  name: 'starts-with-a',
  description: 'answer starting with "a"',
  prompts: (step, n) => Array.from({ length: n }, (_, i) => ({ promptId: `s${step}-p${i}`, text: 'copy bcd=', answer: 'a' })),
  reward: (_p, completion) => ({ reward: completion.startsWith('a') ? 1 : 0, valid: true }),
};

describe('GRPO run loop (bundled models, CPU)', () => {
  it('raises a simple reward within a few steps, with rollouts from speculative decoding', async () => {
    const config = parseRunConfig({ steps: 10, groupSize: 8, promptsPerStep: 4, seed: 3, speculative: { drafter: 'ngram', k: 3 } });
    const log = new MemoryEventLog();
    const { metrics } = await runGrpo({ config, runId: 'learn', log, task: startsWithA, runDir: mkdtempSync(join(tmpdir(), 'grpo-learn-')) });
    const reward = metrics.map((m) => m['reward/mean']!);
    expect(metrics).toHaveLength(10);
    expect(reward[0]).toBeLessThan(0.4);
    const last = reward.slice(-3).reduce((a, b) => a + b, 0) / 3;
    expect(last).toBeGreaterThan(reward[0]! + 0.3);
    for (const m of metrics) expect(m['rollout/count']).toBe(32);
  }, 120_000);
});
