import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { Xoshiro128, normal } from '../sampling/rng.js';
import type { Rng } from '../sampling/rng.js';
import { randomTinyConfig } from '../model/randomModel.js';
import { randomWeights } from '../model/llamaWeights.js';
import { referenceForward } from '../model/reference.js';
import type { LlamaConfig } from '../model/config.js';
import type { F32Tensor } from '../weights/tensor.js';
import { serializeModel } from '../graph/serialize.js';
import { buildTrainStepGraph } from './trainStepGraph.js';
import type { LossOptions } from './losses.js';
import type { TrainBatch } from './batch.js';
import { batchFeeds, defaultPositions } from './batch.js';
import { referenceLoss } from './referenceLoss.js';

/**
 * The whole train step (builder graph + loss fragment + autodiff), run in float64 on ORT CPU,
 * against an independent float64 TypeScript reference: the model helper's reference forward
 * (src/gpu/model/reference.ts) + referenceLoss.ts for the loss and diagnostics, and central
 * differences of that reference (along a random direction per weight tensor) for every weight
 * gradient. Nothing of the autodiff, the loss fragment or ORT is shared with the reference.
 */
function randomBatch(rng: Rng, c: LlamaConfig, B: number, T: number, weights: Map<string, F32Tensor>, temperature: number): TrainBatch {
  const inputIds = Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(rng.next() * c.vocabSize)));
  const attentionMask = inputIds.map((r, b) => r.map((_, t) => (b === 1 && t === 0 ? 0 : 1))); // row 1 left-padded
  const lossMask = inputIds.map((r, b) => r.map((_, t) => (t < 2 || (b === 0 && t === T - 1) ? 0 : 1)));
  const positionIds = defaultPositions(attentionMask);
  const logits = referenceForward(c, weights, inputIds, positionIds, attentionMask);
  const cur = inputIds.map((r, b) => r.map((id, t) => (t === 0 ? 0 : logSoftmaxAt(logits[b]![t - 1]!, id, temperature))));
  const noisy = (rows: number[][], s: number) => rows.map((r) => r.map((v) => v + s * normal(rng)));
  const oldLogprobs = noisy(cur, 0.15);
  return {
    inputIds,
    attentionMask,
    positionIds,
    lossMask,
    advantages: inputIds.map((r) => r.map(() => normal(rng))),
    oldLogprobs,
    genLogprobs: noisy(oldLogprobs, 0.3),
    refLogprobs: noisy(cur, 0.2),
    teacherLogits: Float64Array.from({ length: B * T * c.vocabSize }, () => 2 * normal(rng)),
  };
}
function logSoftmaxAt(x: Float64Array, k: number, temp: number): number {
  const m = Math.max(...x) / temp;
  const lse = m + Math.log(x.reduce((a, v) => a + Math.exp(v / temp - m), 0));
  return x[k]! / temp - lse;
}

const LOSSES: [string, LossOptions, number][] = [
  ['GRPO: k3 KL, IS cap, dual clip, sequence norm, temperature 0.7', { kind: 'grpo', epsLow: 0.2, epsHigh: 0.28, dualClip: 3, normalization: 'sequence', kl: { type: 'k3', coef: 0.05 }, importanceSampling: { cap: 1.5 } }, 0.7],
  ['GRPO: k1 KL, token norm, no IS', { kind: 'grpo', epsLow: 0.2, epsHigh: 0.2, normalization: 'token', kl: { type: 'k1', coef: 0.1 } }, 1],
  ['GRPO: k2 KL', { kind: 'grpo', epsLow: 0.1, epsHigh: 0.1, normalization: 'token', kl: { type: 'k2', coef: 0.3 }, importanceSampling: { cap: 5 } }, 1],
  ['token cross-entropy', { kind: 'ce' }, 1],
  ['soft cross-entropy (distillation), temperature 2', { kind: 'distill', normalization: 'sequence' }, 2],
];

describe('train-step graph vs float64 TypeScript reference', () => {
  LOSSES.flatMap((l) => [0, 1].map((seed) => [l, seed] as const)).forEach(([[name, loss, temperature], seed], k) => {
    it(`${name} (seed ${seed})`, async () => {
      const rng = new Xoshiro128(77 + k);
      const c = randomTinyConfig(rng);
      const weights = randomWeights(c, rng, { std: 0.3, normJitter: 0.2 });
      const B = 2;
      const T = 5;
      const batch = randomBatch(rng, c, B, T, weights, temperature);
      const step = buildTrainStepGraph({ config: c, batch: B, seqLen: T, loss, temperature, dtype: 'float64' });
      const session = await ort.InferenceSession.create(serializeModel(step.graph), { executionProviders: ['cpu'] });
      const feeds: Record<string, ort.Tensor> = batchFeeds(batch, step.batchInputs, 'float64', c.vocabSize);
      for (const w of step.weightNames) {
        const t = weights.get(w)!;
        feeds[w] = new ort.Tensor('float64', Float64Array.from(t.data), t.dims);
      }
      const out = await session.run(feeds);
      await session.release();

      const refAt = (ws: Map<string, F32Tensor>) =>
        referenceLoss(referenceForward(c, ws, batch.inputIds, batch.positionIds!, batch.attentionMask!), batch, loss, temperature);
      const ref = refAt(weights);
      const lossOut = (out['loss']!.data as Float64Array)[0]!;
      // 1e-7, not 1e-12: the builder's constants (1/√D, rms eps, RoPE frequencies) are float32
      // values even in the float64 graph, which moves the loss by ~1e-8 relative.
      expect(Math.abs(lossOut - ref.loss) / Math.max(Math.abs(ref.loss), 1e-12)).toBeLessThan(1e-7);
      for (const [d, name] of step.diagnostics) {
        const v = (out[name]!.data as Float64Array)[0]!;
        expect(Math.abs(v - ref.diagnostics[d]!), `diag ${d}: ${v} vs ${ref.diagnostics[d]}`).toBeLessThan(1e-7 * Math.max(1, Math.abs(ref.diagnostics[d]!)));
      }

      // gradients: directional central differences of the reference, per weight tensor
      for (const w of step.weightNames) {
        const g = out[step.gradOutputs.get(w)!]!.data as Float64Array;
        const t = weights.get(w)!;
        const h = 1e-5;
        const plus = Float32Array.from(t.data);
        const minus = Float32Array.from(t.data);
        for (let i = 0; i < t.data.length; i++) {
          const v = normal(rng);
          plus[i] = t.data[i]! + h * v;
          minus[i] = t.data[i]! - h * v;
        }
        let analytic = 0;
        let scale = 0;
        for (let i = 0; i < t.data.length; i++) {
          const delta = plus[i]! - minus[i]!; // the exact step between the float32 points
          analytic += g[i]! * delta;
          scale += Math.abs(g[i]! * delta);
        }
        const lp = refAt(new Map(weights).set(w, { dims: t.dims, data: plus })).loss;
        const lm = refAt(new Map(weights).set(w, { dims: t.dims, data: minus })).loss;
        const rel = Math.abs(lp - lm - analytic) / Math.max(scale, 1e-14);
        expect(rel, `d loss / d ${w}: numeric ${lp - lm} analytic ${analytic}`).toBeLessThan(1e-6);
      }
    });
  });
});
