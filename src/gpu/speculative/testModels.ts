import { parseConfig, type LlamaConfig } from '../model/config.js';
import { randomWeights } from '../model/llamaWeights.js';
import type { Decoder } from '../runtime/Decoder.js';
import { loadDecoder } from '../runtime/loadDecoder.js';
import { OrtRoundDecoder, type RoundDecoder } from '../runtime/roundDecoder.js';
import { Xoshiro128 } from '../sampling/rng.js';
import type { F32Tensor } from '../weights/tensor.js';
import { truncatedDraft } from './truncatedDraft.js';

/** `SPECSTREAM_TEST_DEVICE=webgpu` runs the speculative tests on the GPU (default cpu). */
export const testDevice = process.env['SPECSTREAM_TEST_DEVICE'] === 'webgpu' ? 'webgpu' : 'cpu';

/** A tiny target, its 1-layer draft and the same draft with the multi-step graph. */
export interface TinyModels {
  target: Decoder;
  draft: Decoder;
  /** The same draft with the greedy multi-step graph (`Decoder.greedyDraft`). */
  multiDraft: Decoder;
  config: LlamaConfig;
  /** Joint rounds of the target and `multiDraft` (one session run per round, `OrtRoundDecoder`). */
  rounds: RoundDecoder;
  /** Releases all three decoders and the joint sessions. */
  release: () => Promise<void>;
}

/**
 * A tiny random target and a draft cut from its first layer, as real ONNX Runtime decoders
 * (built by the model builder), for the speculative-decoding tests. `std` sets how peaked the
 * distributions are (larger = more peaked, so sampling tests have power and greedy has no
 * near-ties).
 */
export async function tinyTargetAndDraft(opts: { vocab: number; seed: number; std?: number; layers?: number; eos?: number }): Promise<TinyModels> {
  const config = parseConfig(
    {
      hidden_size: 16,
      num_hidden_layers: opts.layers ?? 2,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      head_dim: 8,
      intermediate_size: 32,
      vocab_size: opts.vocab,
      tie_word_embeddings: false,
      ...(opts.eos !== undefined ? { eos_token_id: opts.eos } : {}),
    },
    'tinyTargetAndDraft',
  );
  const weights = randomWeights(config, new Xoshiro128(opts.seed), { std: opts.std ?? 0.5 });
  const target = await loadDecoder({ config, weights, name: 'tiny-target' }, { device: testDevice });
  const cut = truncatedDraft(config, weights, 1);
  const draft = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'tiny-draft' }, { device: testDevice });
  const multiDraft = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'tiny-draft (multi-step)' }, { device: testDevice, multiStepDraft: true });
  const rounds = OrtRoundDecoder.open({ decoder: target, model: { config, weights } }, { decoder: multiDraft, model: cut });
  const release = async () => {
    await rounds.release();
    for (const d of [target, draft, multiDraft]) await d.release();
  };
  return { target, draft, multiDraft, rounds, config, release };
}

/** A tiny random decoder with its own vocabulary size (for the mismatch error). */
export async function tinyDecoder(vocab: number, seed: number): Promise<Decoder> {
  const config = parseConfig(
    { hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 1, head_dim: 8, intermediate_size: 16, vocab_size: vocab },
    'tinyDecoder',
  );
  const weights: Map<string, F32Tensor> = randomWeights(config, new Xoshiro128(seed), { std: 0.3 });
  return loadDecoder({ config, weights, name: `tiny-vocab-${vocab}` }, { device: testDevice });
}

/**
 * Logits of every position of `tokens` from one plain forward pass over the whole sequence (no
 * cache reuse, no masking): the reference speculative decoding must reproduce. [n, V] row-major.
 */
export async function fullSequenceLogits(decoder: Decoder, tokens: readonly number[]): Promise<Float32Array> {
  const out = await decoder.forward(
    { inputIds: [tokens], positionIds: [tokens.map((_, i) => i)], attentionMask: [tokens.map(() => 1)] },
    decoder.emptyCache(1),
  );
  out.cache.dispose();
  return out.logits;
}
