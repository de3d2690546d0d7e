import { performance } from 'node:perf_hooks';
import { benchArgs, type Benchmark } from './index.js';
import { median } from './stats.js';
import { parseConfig, parameterCount } from '../../gpu/model/config.js';
import type { LlamaConfig } from '../../gpu/model/config.js';
import { randomWeights } from '../../gpu/model/llamaWeights.js';
import { loadDecoder } from '../../gpu/runtime/loadDecoder.js';
import type { Decoder, Device } from '../../gpu/runtime/Decoder.js';
import { Xoshiro128 } from '../../gpu/sampling/rng.js';

const llama = (o: Record<string, number | boolean>, name: string): LlamaConfig =>
  parseConfig({ model_type: 'llama', vocab_size: 32000, rope_theta: 10000, rms_norm_eps: 1e-5, bos_token_id: 1, eos_token_id: 2, ...o }, name);

/** ~100M-parameter target and ~10M-parameter draft (tied embeddings, vocab 32000, head_dim 64). */
export function benchModels(quick: boolean): { target: LlamaConfig; draft: LlamaConfig } {
  if (quick) {
    return {
      target: llama({ hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 704, tie_word_embeddings: true, vocab_size: 8000 }, 'quick-target'),
      draft: llama({ hidden_size: 128, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 352, tie_word_embeddings: true, vocab_size: 8000 }, 'quick-draft'),
    };
  }
  return {
    target: llama({ hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, num_key_value_heads: 4, intermediate_size: 2048, tie_word_embeddings: true }, 'target-100M'),
    draft: llama({ hidden_size: 256, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 768, tie_word_embeddings: true }, 'draft-10M'),
  };
}

interface Timing {
  batch: number;
  prefillMs: number;
  msPerStep: number;
  tokensPerSecond: number;
}

/**
 * Plain greedy decoding of one model at one batch size.
 * 1. Prefill `promptLen` random tokens per row.
 * 2. One untimed decode step (warm-up: kernels, allocations).
 * 3. `newTokens` timed decode steps of one token per row (argmax of the last logits fed back;
 *    logits come to the CPU each step, as in real generation).
 */
async function timeDecode(dec: Decoder, batch: number, promptLen: number, newTokens: number, seed: number): Promise<Timing> {
  const rng = new Xoshiro128(seed, batch);
  const V = dec.info.vocabSize;
  const ids = Array.from({ length: batch }, () => Array.from({ length: promptLen }, () => Math.floor(rng.next() * V)));
  let mask = ids.map((r) => r.map(() => 1));
  const t0 = performance.now();
  let out = await dec.forward({ inputIds: ids, positionIds: ids.map((r) => r.map((_, t) => t)), attentionMask: mask, numLogitsToKeep: 1 }, dec.emptyCache(batch));
  const prefillMs = performance.now() - t0;
  const argmaxLast = (): number[][] => {
    const [, T] = out.dims;
    return Array.from({ length: batch }, (_, b) => {
      const row = out.logits.subarray((b * T + T - 1) * V, (b * T + T) * V);
      let best = 0;
      for (let i = 1; i < V; i++) if (row[i]! > row[best]!) best = i;
      return [best];
    });
  };
  let pos = promptLen;
  const steps: number[] = [];
  for (let step = 0; step <= newTokens; step++) {
    const s0 = performance.now();
    mask = mask.map((m) => [...m, 1]);
    out = await dec.forward({ inputIds: argmaxLast(), positionIds: ids.map(() => [pos]), attentionMask: mask }, out.cache);
    if (step > 0) steps.push(performance.now() - s0);
    pos++;
  }
  out.cache.dispose();
  // median step time: robust to bursts from other processes on a shared machine
  const msPerStep = median(steps);
  return { batch, prefillMs, msPerStep, tokensPerSecond: batch / (msPerStep / 1000) };
}

export const decodeBenchmark: Benchmark = {
  name: 'decode',
  description: 'plain decoding tokens/s of a ~100M target and a ~10M draft at batch 1, 8, 64, and the draft/target cost ratio c',
  async run(options, args) {
    const device: Device = options['device'] === 'webgpu' ? 'webgpu' : 'cpu';
    const quick = options['quick'] === true;
    const { flags } = benchArgs(args);
    const flag = (name: string): string | undefined => (typeof flags[name] === 'string' ? flags[name] : undefined);
    const newTokens = Number(flag('new-tokens') ?? (quick ? 8 : device === 'cpu' ? 16 : 64));
    const promptLen = Number(flag('prompt-len') ?? 16);
    const batches = (flag('batches') ?? '1,8,64').split(',').map(Number);
    const fused = flags['fused'] === true;
    const { target, draft } = benchModels(quick);
    const results: Record<string, Timing[]> = { target: [], draft: [] };
    const params: Record<string, number> = {};
    const decoders: Record<string, Decoder> = {};
    for (const [name, config, seed] of [['target', target, 1], ['draft', draft, 2]] as const) {
      params[name] = parameterCount(config);
      const t0 = performance.now();
      decoders[name] = await loadDecoder({ config, weights: randomWeights(config, new Xoshiro128(seed)), name }, { device, fused });
      process.stdout.write(`${name}${fused ? ' (fused graph)' : ''}: ${(params[name]! / 1e6).toFixed(1)}M parameters (hidden ${config.hiddenSize}, ${config.numLayers} layers, vocab ${config.vocabSize}), built and loaded on ${device} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    // target and draft timed back to back at each batch size, so both see the same machine load
    for (const b of batches) {
      for (const name of ['target', 'draft']) results[name]!.push(await timeDecode(decoders[name]!, b, promptLen, newTokens, name === 'target' ? 1 : 2));
    }
    for (const d of Object.values(decoders)) await d.release();
    process.stdout.write(`\nplain greedy decoding on ${device}${fused ? ' (fused graph)' : ''}, prompt ${promptLen} tokens, ${newTokens} timed new tokens per row (after 1 warm-up step); median ms per step\n`);
    process.stdout.write('batch | target ms/step | target tok/s | draft ms/step | draft tok/s | c = draft/target\n');
    const rows = batches.map((b, i) => {
      const t = results['target']![i]!;
      const d = results['draft']![i]!;
      const c = d.msPerStep / t.msPerStep;
      process.stdout.write(
        `${String(b).padStart(5)} | ${t.msPerStep.toFixed(2).padStart(14)} | ${t.tokensPerSecond.toFixed(1).padStart(12)} | ${d.msPerStep.toFixed(2).padStart(13)} | ${d.tokensPerSecond.toFixed(1).padStart(11)} | ${c.toFixed(3)}\n`,
      );
      return { batch: b, target: t, draft: d, c };
    });
    return { device, fused, quick, newTokens, promptLen, parameters: params, rows };
  },
};
