import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RolloutCompleted } from '../../src/events/index.js';
import { OrtRoundDecoder } from '../../src/gpu/runtime/roundDecoder.js';
import { MemoryEventLog } from '../../src/streams/log/MemoryEventLog.js';
import { parseRunConfig } from '../../src/streams/pipeline/runConfig.js';
import { runGrpo } from '../../src/streams/pipeline/grpoRun.js';
import { loadTask } from '../../src/tasks/index.js';
import { firstValueFrom, toArray } from 'rxjs';

afterEach(() => vi.restoreAllMocks());

/**
 * Joint rounds in the training run (bundled models, CPU, draft model with a fixed k and greedy
 * drafts for sampled rollouts): every step's rollouts and metrics equal those of the same run
 * with two session runs per round — across refits, which rebuild the joint session from the
 * updated policy — and the joint session really ran.
 */
describe('GRPO run with joint rounds (speculative.jointRounds)', () => {
  it('produces the rollouts and metrics of two runs per round, step after step', async () => {
    const run = async (jointRounds: boolean) => {
      const config = parseRunConfig({ steps: 3, groupSize: 4, promptsPerStep: 2, seed: 5, speculative: { drafter: 'model', k: 3, greedyDrafts: true, jointRounds } });
      const log = new MemoryEventLog();
      const { metrics } = await runGrpo({ config, runId: `joint-${jointRounds}`, log, task: await loadTask('copy'), runDir: mkdtempSync(join(tmpdir(), 'grpo-joint-')) });
      const rollouts: string[] = [];
      for (const { event: e } of await firstValueFrom(log.read().pipe(toArray()))) {
        if (e.type === 'RolloutCompleted') rollouts.push(`${e.step}:${(e as RolloutCompleted).data.requestId}:${(e as RolloutCompleted).data.tokenIds.join(',')}`);
      }
      return { metrics, rollouts: rollouts.sort() };
    };
    const rounds = vi.spyOn(OrtRoundDecoder.prototype, 'round');
    const opened = vi.spyOn(OrtRoundDecoder, 'open');
    const joint = await run(true);
    const jointRuns = rounds.mock.calls.length;
    expect(jointRuns).toBeGreaterThan(0);
    expect(opened.mock.calls.length).toBe(3); // one per step: refits rebuild it
    const apart = await run(false);
    expect(rounds.mock.calls.length).toBe(jointRuns); // none in the second run
    expect(joint.rollouts.length).toBe(3 * 2 * 4);
    expect(joint.rollouts).toEqual(apart.rollouts);
    // every metric but timings (seconds, tokens per second), equal to float32 rounding: the joint
    // graph's logits (hence the rollouts' logprobs, which the loss reads) differ from the two
    // graphs' in the last bits
    const same = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).filter(([k]) => !/seconds|per_s|_ms|time|throughput/i.test(k)));
    joint.metrics.forEach((m, step) => {
      const a = same(m);
      const b = same(apart.metrics[step]!);
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      for (const [k, v] of Object.entries(a)) expect(Math.abs(v - b[k]!), `step ${step} ${k}: ${v} vs ${b[k]}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v)));
    });
    expect(Object.keys(same(joint.metrics[0]!))).toEqual(expect.arrayContaining(['reward/mean', 'spec_decode/num_draft_tokens']));
  }, 120_000);
});
