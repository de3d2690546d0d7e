/**
 * `npm run bench -- train [--device cpu|webgpu] [--quick] [--batch B] [--seq T] [--steps N]`:
 * GRPO train-step time and tokens/s for a ~100M-parameter Llama (random weights), split into
 * the ONNX Runtime part (forward + backward graph) and the TypeScript AdamW update, plus the
 * one-off costs: graph build + serialisation, session creation, and a refit of the generation
 * session from in-memory bytes.
 */
import { parseConfig, parameterCount } from '../../gpu/model/config.js';
import { randomWeights } from '../../gpu/model/llamaWeights.js';
import { Xoshiro128, normal } from '../../gpu/sampling/rng.js';
import { Trainer } from '../../gpu/train/Trainer.js';
import type { TrainBatch } from '../../gpu/train/batch.js';
import { rebuildSession } from '../../gpu/train/refit.js';
import type { Benchmark } from './index.js';
import { median } from './stats.js';
import * as ort from 'onnxruntime-node';
import type { LlamaConfig } from '../../gpu/model/config.js';
import { buildLlamaModel, pastName } from '../../gpu/model/llamaGraph.js';
import { CheckedSession } from '../../gpu/runtime/session.js';

/** Median time of a one-token decode step with 16 (zero) past slots; `extra` adds feeds (weights). */
async function decodeMs(s: CheckedSession, c: LlamaConfig, extra: Record<string, ort.Tensor>): Promise<number> {
  const P = 16;
  const feeds: Record<string, ort.Tensor> = {
    ...extra,
    input_ids: new ort.Tensor('int64', BigInt64Array.from([5n]), [1, 1]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(P + 1).fill(1n), [1, P + 1]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from([BigInt(P)]), [1, 1]),
  };
  for (let l = 0; l < c.numLayers; l++) {
    for (const kv of ['key', 'value'] as const) feeds[pastName(l, kv)] = new ort.Tensor('float32', new Float32Array(c.numKvHeads * P * c.headDim), [1, c.numKvHeads, P, c.headDim]);
  }
  const times: number[] = [];
  for (let k = 0; k < 7; k++) {
    const t = performance.now();
    await s.run(feeds);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[3]!;
}

/** ~100M parameters: 8 layers, hidden 768, GQA 12/4 heads, SwiGLU 2048, vocab 32000, untied head. */
const MODEL_100M = {
  model_type: 'llama', hidden_size: 768, num_hidden_layers: 8, num_attention_heads: 12, num_key_value_heads: 4,
  intermediate_size: 2048, vocab_size: 32000, tie_word_embeddings: false, eos_token_id: 2,
};
const MODEL_QUICK = { ...MODEL_100M, hidden_size: 256, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 512, vocab_size: 4096 };

const num = (v: string | boolean | undefined, dflt: number, name: string): number => {
  if (v === undefined || typeof v === 'boolean') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`bench train: --${name} must be a positive integer; got "${v}"`);
  return n;
};

export const trainBenchmark: Benchmark = {
  name: 'train',
  description: 'GRPO train step (forward + backward on ONNX Runtime, AdamW) of a ~100M Llama: step time, tokens/s, refit time',
  async run(options) {
    const device = options['device'] === 'webgpu' ? 'webgpu' : 'cpu';
    const quick = options['quick'] === true;
    const B = num(options['batch'], quick ? 2 : 4, 'batch');
    const T = num(options['seq'], quick ? 64 : 128, 'seq');
    const steps = num(options['steps'], quick ? 2 : 3, 'steps');
    const config = parseConfig(quick ? MODEL_QUICK : MODEL_100M, 'bench train model');
    const rng = new Xoshiro128(1);
    const weights = randomWeights(config, rng);
    const tokens = B * (T - 1);
    const row = () => Array.from({ length: T }, () => normal(rng) * 0.1);
    const inputIds = Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(rng.next() * config.vocabSize)));
    const batch: TrainBatch = {
      inputIds,
      lossMask: inputIds.map((r) => r.map((_, t) => (t === 0 ? 0 : 1))),
      advantages: inputIds.map(() => row()),
      oldLogprobs: inputIds.map(() => row().map((v) => v - Math.log(config.vocabSize))),
      genLogprobs: inputIds.map(() => row().map((v) => v - Math.log(config.vocabSize))),
      refLogprobs: inputIds.map(() => row().map((v) => v - Math.log(config.vocabSize))),
    };
    const params = parameterCount(config);
    process.stdout.write(`train bench: ${(params / 1e6).toFixed(1)}M parameters, B=${B} T=${T}, device ${device}, ${steps} timed steps\n`);

    const t0 = performance.now();
    const trainer = await Trainer.create({
      config, weights, batch: B, seqLen: T, device,
      loss: { kind: 'grpo', epsLow: 0.2, epsHigh: 0.2, normalization: 'token', kl: { type: 'k3', coef: 0.01 }, importanceSampling: { cap: 2 } },
      schedule: { kind: 'constant', lr: 1e-5 }, maxGradNorm: 1,
    });
    const setupMs = performance.now() - t0;
    const nodes = trainer.step.graph.nodes.length;
    await trainer.trainStep(batch); // warm-up (first run allocates)
    const grad: number[] = [];
    const opt: number[] = [];
    for (let k = 0; k < steps; k++) {
      const r = await trainer.trainStep(batch);
      grad.push(r.timings.gradientsMs);
      opt.push(r.timings.optimizerMs);
    }
    await trainer.release();
    const t1 = performance.now();
    const session = await rebuildSession(config, trainer.weights, device, { version: trainer.weightsVersion });
    const refitMs = performance.now() - t1;
    // the alternative refit: weights as inputs of the generation graph (free refit, fed every run)
    const asInputs = await CheckedSession.create(buildLlamaModel(config, { weightsAs: 'inputs', kvCache: true }), { device, source: 'weights-as-inputs decoder' });
    const weightFeeds = Object.fromEntries([...trainer.weights].map(([n, t]) => [n, new ort.Tensor('float32', t.data, t.dims)]));
    const decodeInit = await decodeMs(session, config, {});
    const decodeInputs = await decodeMs(asInputs, config, weightFeeds);
    await session.release();
    await asInputs.release();

    const stepMs = median(grad) + median(opt);
    const result = {
      device,
      parameters: params,
      batch: B,
      seqLen: T,
      trainStepGraphNodes: nodes,
      setupMs: Math.round(setupMs),
      gradientsMsMedian: Math.round(median(grad)),
      adamwMsMedian: Math.round(median(opt)),
      stepMs: Math.round(stepMs),
      tokensPerSecond: Math.round((tokens / stepMs) * 1000),
      refitMs: Math.round(refitMs),
      decodeMsWeightsAsInitializers: Number(decodeInit.toFixed(2)),
      decodeMsWeightsAsInputs: Number(decodeInputs.toFixed(2)),
      stepsTimed: steps,
    };
    process.stdout.write(
      [
        `  train-step graph: ${nodes} nodes; build + serialise + session create ${result.setupMs} ms`,
        `  forward+backward (ORT ${device}) median ${result.gradientsMsMedian} ms, AdamW (TypeScript) median ${result.adamwMsMedian} ms`,
        `  step ${result.stepMs} ms → ${result.tokensPerSecond} tokens/s (${tokens} loss tokens per step)`,
        `  refit: generation session rebuilt from in-memory bytes in ${result.refitMs} ms`,
        `  one decode step (B=1, 16 past slots): weights as initializers ${result.decodeMsWeightsAsInitializers} ms, as inputs ${result.decodeMsWeightsAsInputs} ms`,
        '',
      ].join('\n'),
    );
    return result;
  },
};
