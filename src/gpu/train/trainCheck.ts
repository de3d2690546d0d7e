/**
 * Exports one GRPO train step — model, batch, loss, diagnostics, gradients — to a directory, so
 * an independent implementation (test/reference/torch_grpo_check.py: transformers'
 * LlamaForCausalLM + the loss written in PyTorch) can recompute and compare them.
 *
 *   <out>/model/{model.safetensors,config.json}   the weights (Hugging Face names) and config
 *   <out>/batch.json                               token ids, masks, positions, per-token inputs,
 *                                                  loss options, temperature
 *   <out>/result.json                              loss and diagnostics (float64 graph on CPU,
 *                                                  float32 graph on the chosen device)
 *   <out>/grads_float64.safetensors                gradients of the float64 graph (stored F32)
 *   <out>/grads_<device>_float32.safetensors       gradients of the float32 graph on the device
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseConfig } from '../model/config.js';
import type { LlamaConfig } from '../model/config.js';
import { randomWeights } from '../model/llamaWeights.js';
import { referenceForward } from '../model/reference.js';
import { Xoshiro128, normal } from '../sampling/rng.js';
import type { F32Tensor } from '../weights/tensor.js';
import { writeSafetensors } from '../weights/safetensors.js';
import { serializeModel } from '../graph/serialize.js';
import { CheckedSession } from '../runtime/session.js';
import type { Device } from '../runtime/Decoder.js';
import { buildTrainStepGraph } from './trainStepGraph.js';
import type { GrpoLossOptions } from './losses.js';
import type { TrainBatch } from './batch.js';
import { batchFeeds } from './batch.js';
import { saveCheckpoint } from './checkpoint.js';
import { referenceLoss } from './referenceLoss.js';

export interface TrainCheckOptions {
  readonly out: string;
  readonly seed: number;
  readonly device: Device;
  readonly batch?: number;
  readonly seqLen?: number;
}

export const CHECK_LOSS: GrpoLossOptions = {
  kind: 'grpo', epsLow: 0.2, epsHigh: 0.28, dualClip: 3, normalization: 'token',
  kl: { type: 'k3', coef: 0.05 }, importanceSampling: { cap: 2 },
};
export const CHECK_TEMPERATURE = 0.8;

/** A small Llama (GQA, untied head) for the cross-implementation check. */
export function checkConfig(): LlamaConfig {
  return parseConfig({
    model_type: 'llama', hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    intermediate_size: 128, vocab_size: 96, rope_theta: 10000, rms_norm_eps: 1e-5, tie_word_embeddings: false,
    bos_token_id: 1, eos_token_id: 2,
  });
}

/** Builds the random model and batch, runs both graphs, writes the files; returns a summary. */
export async function runTrainCheck(o: TrainCheckOptions): Promise<Record<string, unknown>> {
  const c = checkConfig();
  const B = o.batch ?? 2;
  const T = o.seqLen ?? 12;
  const rng = new Xoshiro128(o.seed);
  const weights = randomWeights(c, rng, { std: 0.08, normJitter: 0.1 });
  const inputIds = Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(rng.next() * c.vocabSize)));
  const attentionMask = inputIds.map((r) => r.map(() => 1));
  const positionIds = inputIds.map((r) => r.map((_, t) => t));
  const lossMask = inputIds.map((r, b) => r.map((_, t) => (t < 3 || (b === 1 && t === T - 1) ? 0 : 1)));
  const logits = referenceForward(c, weights, inputIds, positionIds, attentionMask);
  const cur = inputIds.map((r, b) =>
    r.map((id, t) => {
      if (t === 0) return 0;
      const x = logits[b]![t - 1]!.map((v) => v / CHECK_TEMPERATURE);
      const m = Math.max(...x);
      return x[id]! - m - Math.log(x.reduce((a, v) => a + Math.exp(v - m), 0));
    }),
  );
  const noisy = (rows: number[][], s: number) => rows.map((r) => r.map((v) => v + s * normal(rng)));
  const oldLogprobs = noisy(cur, 0.3); // wide enough that some ratios leave [1 − ε, 1 + ε]
  const batch: TrainBatch = {
    inputIds, attentionMask, positionIds, lossMask,
    advantages: inputIds.map((r) => r.map(() => normal(rng))),
    oldLogprobs,
    genLogprobs: noisy(oldLogprobs, 0.2),
    refLogprobs: noisy(cur, 0.1),
  };

  await mkdir(o.out, { recursive: true });
  await saveCheckpoint(join(o.out, 'model'), c, weights);
  await writeFile(join(o.out, 'batch.json'), JSON.stringify({ ...batch, loss: CHECK_LOSS, temperature: CHECK_TEMPERATURE }) + '\n');

  const results: Record<string, unknown> = {};
  for (const [dtype, device] of [['float64', 'cpu'], ['float32', o.device]] as const) {
    const step = buildTrainStepGraph({ config: c, batch: B, seqLen: T, loss: CHECK_LOSS, temperature: CHECK_TEMPERATURE, dtype });
    const session = await CheckedSession.create(serializeModel(step.graph), { device, source: `train-check ${dtype}` });
    const feeds = batchFeeds(batch, step.batchInputs, dtype, c.vocabSize);
    for (const w of step.weightNames) {
      const t = weights.get(w)!;
      feeds[w] = new ort.Tensor(dtype, dtype === 'float64' ? Float64Array.from(t.data) : t.data, t.dims);
    }
    const out = await session.run(feeds);
    await session.release();
    const scalar = (n: string) => Number((out[n]!.data as Float32Array | Float64Array)[0]);
    const grads = new Map<string, F32Tensor>();
    for (const [w, n] of step.gradOutputs) grads.set(w, { dims: weights.get(w)!.dims, data: Float32Array.from(out[n]!.data as Float64Array) });
    const file = dtype === 'float64' ? 'grads_float64.safetensors' : `grads_${device}_float32.safetensors`;
    await writeSafetensors(join(o.out, file), grads);
    results[`${dtype}_${device}`] = {
      loss: scalar(step.lossOutput),
      diagnostics: Object.fromEntries([...step.diagnostics].map(([k, n]) => [k, scalar(n)])),
      grads: file,
    };
  }
  results['typescript_reference'] = referenceLoss(logits, batch, CHECK_LOSS, CHECK_TEMPERATURE);
  await writeFile(join(o.out, 'result.json'), JSON.stringify(results, null, 2) + '\n');
  return results;
}
