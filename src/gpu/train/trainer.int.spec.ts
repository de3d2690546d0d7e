import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseConfig } from '../model/config.js';
import type { LlamaConfig } from '../model/config.js';
import { randomWeights } from '../model/llamaWeights.js';
import { pastName } from '../model/llamaGraph.js';
import { Xoshiro128 } from '../sampling/rng.js';
import type { CheckedSession } from '../runtime/session.js';
import { Trainer } from './Trainer.js';
import { rebuildSession } from './refit.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';

const config = parseConfig({
  hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
  intermediate_size: 32, vocab_size: 32, rms_norm_eps: 1e-6, eos_token_id: 2,
});

/** Greedy continuation of `prompt` by full re-evaluation (empty KV cache each call). */
async function greedy(s: CheckedSession, c: LlamaConfig, prompt: number[], n: number): Promise<number[]> {
  const ids = [...prompt];
  for (let k = 0; k < n; k++) {
    const T = ids.length;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, T]),
    };
    for (let l = 0; l < c.numLayers; l++) {
      for (const kv of ['key', 'value'] as const) feeds[pastName(l, kv)] = new ort.Tensor('float32', new Float32Array(0), [1, c.numKvHeads, 0, c.headDim]);
    }
    const logits = (await s.run(feeds))['logits']!.data as Float32Array;
    const last = logits.subarray((T - 1) * c.vocabSize, T * c.vocabSize);
    ids.push(last.indexOf(Math.max(...last)));
  }
  return ids.slice(prompt.length);
}

describe('Trainer (cpu)', () => {
  it('lowers the loss, and after a refit generation follows the trained sequence', async () => {
    const weights = randomWeights(config, new Xoshiro128(5));
    const target = [1, 7, 19, 4, 25, 11, 30, 9];
    const before = await rebuildSession(config, weights, 'cpu', { version: 0 });
    const generatedBefore = await greedy(before, config, [1], 7);
    await before.release();

    const trainer = await Trainer.create({
      config, weights, batch: 1, seqLen: target.length, loss: { kind: 'ce' },
      schedule: { kind: 'cosine', lr: 0.03, warmupSteps: 3, totalSteps: 40, minLr: 0.003 }, maxGradNorm: 1,
      optimizer: { weightDecay: 0.01 },
    });
    const batch = { inputIds: [target], lossMask: [target.map((_, t) => (t === 0 ? 0 : 1))] };
    const first = await trainer.trainStep(batch);
    let last = first;
    for (let k = 1; k < 40; k++) last = await trainer.trainStep(batch);
    expect(first.loss).toBeCloseTo(Math.log(config.vocabSize), 0); // random init ≈ uniform
    expect(last.loss).toBeLessThan(0.05 * first.loss);
    expect(last.weightsVersion).toBe(40);
    expect(first.lr).toBeCloseTo(0.01, 10);
    expect(first.metrics['grad_clip_coef']).toBeLessThanOrEqual(1);
    expect(first.gradNorm).toBeGreaterThan(0);
    // the trainer copied its weights: the caller's map is untouched
    expect(trainer.weights.get('model.norm.weight')!.data).not.toBe(weights.get('model.norm.weight')!.data);

    const after = await rebuildSession(config, trainer.weights, 'cpu', { version: trainer.weightsVersion });
    const generatedAfter = await greedy(after, config, [1], 7);
    await after.release();
    expect(generatedAfter).toEqual(target.slice(1));
    expect(generatedBefore).not.toEqual(target.slice(1));
    await trainer.release();
  });

  it('checkpoints round-trip bit-exact (safetensors + config.json, Hugging Face names)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'specstream-ckpt-'));
    try {
      const tied = parseConfig({ ...{ hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, vocab_size: 20 }, tie_word_embeddings: true, eos_token_id: [2, 3] });
      const weights = randomWeights(tied, new Xoshiro128(9), { normJitter: 0.5 });
      weights.get('model.norm.weight')!.data[0] = -0; // signed zero and a subnormal survive too
      weights.get('model.norm.weight')!.data[1] = 1e-40;
      await saveCheckpoint(dir, tied, weights);
      const back = await loadCheckpoint(dir);
      expect(back.config).toEqual(tied);
      expect([...back.weights.keys()].sort()).toEqual([...weights.keys()].sort());
      expect(back.weights.has('lm_head.weight')).toBe(false);
      for (const [name, t] of weights) {
        const u = back.weights.get(name)!;
        expect(u.dims).toEqual(t.dims);
        expect(new Uint32Array(u.data.buffer, u.data.byteOffset, u.data.length)).toEqual(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
