import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../model/config.js';
import { randomWeights } from '../model/llamaWeights.js';
import { Xoshiro128 } from '../sampling/rng.js';
import type { Decoder } from '../runtime/Decoder.js';
import { Trainer } from './Trainer.js';
import { refitDecoder } from './refit.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';

const config = parseConfig({
  hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
  intermediate_size: 32, vocab_size: 32, rms_norm_eps: 1e-6, eos_token_id: 2,
});

/** Greedy continuation of `prompt` through the Decoder API (KV cache, one token per call). */
async function greedy(d: Decoder, prompt: number[], n: number): Promise<number[]> {
  const ids = [...prompt];
  let cache = d.emptyCache(1);
  let input = { inputIds: [prompt], positionIds: [prompt.map((_, i) => i)], attentionMask: [prompt.map(() => 1)] };
  for (let k = 0; k < n; k++) {
    const out = await d.forward(input, cache);
    cache = out.cache;
    const [, T, V] = out.dims;
    const last = Array.from(out.logits.subarray((T - 1) * V, T * V));
    const next = last.indexOf(Math.max(...last));
    ids.push(next);
    input = { inputIds: [[next]], positionIds: [[ids.length - 1]], attentionMask: [ids.map(() => 1)] };
  }
  cache.dispose();
  return ids.slice(prompt.length);
}

describe('Trainer (cpu)', () => {
  it('lowers the loss, and after a refit generation follows the trained sequence', async () => {
    const weights = randomWeights(config, new Xoshiro128(5));
    const target = [1, 7, 19, 4, 25, 11, 30, 9];
    let decoder = await refitDecoder(undefined, { config, weights, name: 'policy v0' }, 'cpu');
    const generatedBefore = await greedy(decoder, [1], 7);

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

    decoder = await refitDecoder(decoder, { config, weights: trainer.weights, name: 'policy v40' }, 'cpu');
    const generatedAfter = await greedy(decoder, [1], 7);
    await decoder.release();
    expect(generatedAfter).toEqual(target.slice(1));
    expect(generatedBefore).not.toEqual(target.slice(1));
    await trainer.release();
  });

  it('a run resumed from a checkpoint (weights + AdamW state) continues bit for bit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'specstream-resume-'));
    try {
      const opts = {
        config, weights: randomWeights(config, new Xoshiro128(6)), batch: 2, seqLen: 6,
        loss: { kind: 'ce' as const }, schedule: { kind: 'constant' as const, lr: 0.01 }, maxGradNorm: 0.5,
      };
      const batch = { inputIds: [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]], lossMask: [[0, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]] };
      const a = await Trainer.create(opts);
      for (let k = 0; k < 3; k++) await a.trainStep(batch);
      await a.save(dir);
      const ra = await a.trainStep(batch);
      const { weights } = await loadCheckpoint(dir);
      const b = await Trainer.create({ ...opts, weights });
      await b.resume(dir);
      const rb = await b.trainStep(batch);
      expect(rb.loss).toBe(ra.loss);
      expect(rb.weightsVersion).toBe(4);
      for (const [name, t] of a.weights) expect(b.weights.get(name)!.data).toEqual(t.data);
      await a.release();
      await b.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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
