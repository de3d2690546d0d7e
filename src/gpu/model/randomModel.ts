import type { LlamaConfig } from './config.js';
import { parseConfig } from './config.js';
import type { Rng } from '../sampling/rng.js';

/** A uniform integer in [lo, hi]. */
export const randInt = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1));

/**
 * A small random Llama config for tests: 1–2 layers, head_dim 4–8 (even), 1–4 kv heads with
 * 1–2 query heads per group, random tie/bias/rope_theta/eps, vocab 16–48. Sized so the float64
 * reference runs in milliseconds.
 */
export function randomTinyConfig(rng: Rng): LlamaConfig {
  const headDim = 2 * randInt(rng, 2, 4);
  const numKvHeads = randInt(rng, 1, 2);
  const numHeads = numKvHeads * randInt(rng, 1, 2);
  const hidden = 4 * randInt(rng, 2, 6);
  return parseConfig(
    {
      model_type: rng.next() < 0.3 ? 'qwen2' : 'llama',
      hidden_size: hidden,
      num_hidden_layers: randInt(rng, 1, 2),
      num_attention_heads: numHeads,
      num_key_value_heads: numKvHeads,
      head_dim: headDim,
      intermediate_size: 4 * randInt(rng, 2, 8),
      vocab_size: randInt(rng, 16, 48),
      rope_theta: [10000, 500000, 100][randInt(rng, 0, 2)],
      rms_norm_eps: [1e-5, 1e-6][randInt(rng, 0, 1)],
      tie_word_embeddings: rng.next() < 0.5,
      bos_token_id: 1,
      eos_token_id: 2,
    },
    'randomTinyConfig',
  );
}
