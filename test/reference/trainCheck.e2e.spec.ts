import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../src/cli/program.js';
import { readSafetensors } from '../../src/gpu/weights/safetensors.js';
import { loadCheckpoint } from '../../src/gpu/train/checkpoint.js';

/**
 * `specstream train-check --out DIR` writes what test/reference/torch_grpo_check.py reads; here
 * the files are checked for consistency among themselves: the float64 graph's loss equals the
 * TypeScript reference's, the float32 graph's loss and gradients are close to the float64 ones,
 * and the model directory loads back.
 */
describe('specstream train-check', () => {
  it('exports model, batch, loss, diagnostics and gradients consistently', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'specstream-train-check-'));
    try {
      await buildProgram().exitOverride().parseAsync(['node', 'specstream', 'train-check', '--out', dir, '--seed', '3']);
      const result = JSON.parse(await readFile(join(dir, 'result.json'), 'utf8'));
      const f64 = result['float64_cpu'];
      const f32 = result['float32_cpu'];
      const ref = result['typescript_reference'];
      expect(Math.abs(f64.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-7);
      expect(Math.abs(f32.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-4);
      for (const k of ['kl', 'mean_ratio', 'entropy', 'is_weight_mean', 'token_mult_prob_error']) {
        expect(Math.abs(f64.diagnostics[k] - ref.diagnostics[k])).toBeLessThan(1e-7 * Math.max(1, Math.abs(ref.diagnostics[k])));
      }
      expect(f64.diagnostics['clip_fraction']).toBeGreaterThan(0); // the batch exercises the clip
      const g64 = await readSafetensors(join(dir, f64.grads));
      const g32 = await readSafetensors(join(dir, f32.grads));
      const { config, weights } = await loadCheckpoint(join(dir, 'model'));
      expect([...g64.keys()].sort()).toEqual([...weights.keys()].sort());
      expect(config.numLayers).toBe(2);
      for (const [name, a] of g64) {
        const b = g32.get(name)!;
        let maxA = 0;
        let maxDiff = 0;
        a.data.forEach((v, i) => {
          maxA = Math.max(maxA, Math.abs(v));
          maxDiff = Math.max(maxDiff, Math.abs(v - b.data[i]!));
        });
        expect(maxDiff / maxA, name).toBeLessThan(1e-3);
      }
      const batch = JSON.parse(await readFile(join(dir, 'batch.json'), 'utf8'));
      expect(batch.loss.kind).toBe('grpo');
      expect(batch.inputIds.length).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
