import type { LlamaConfig } from '../model/config.js';
import { EMBED, FINAL_NORM, LM_HEAD, layerNames } from '../model/llamaWeights.js';
import type { F32Tensor, WeightMap } from '../weights/tensor.js';

/**
 * A draft model cut from the target itself: its embedding, its first `numLayers` decoder
 * layers, its final norm and its LM head (Self-speculative / "LayerSkip"-style early exit).
 * Shares the tokenizer by construction and accepts at a realistic rate without any training,
 * which makes it the benchmark's stand-in until a distilled draft exists.
 *
 * 1. Check 1 ≤ numLayers < the target's layer count.
 * 2. Copy the config with `num_hidden_layers = numLayers`.
 * 3. Keep the embedding, layers 0 … numLayers−1, the final norm and (untied) the LM head; the
 *    tensors are shared, not copied.
 *
 * @example
 * const { config, weights } = truncatedDraft(targetConfig, targetWeights, 1);
 */
export function truncatedDraft(
  config: LlamaConfig,
  weights: WeightMap,
  numLayers: number,
): { config: LlamaConfig; weights: Map<string, F32Tensor> } {
  if (!Number.isInteger(numLayers) || numLayers < 1 || numLayers >= config.numLayers) {
    throw new Error(`truncatedDraft: numLayers must be an integer in [1, ${config.numLayers - 1}] for a ${config.numLayers}-layer target, received ${numLayers}`);
  }
  const out = new Map<string, F32Tensor>();
  const take = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`truncatedDraft: the target weights have no "${name}"`);
    out.set(name, t);
  };
  take(EMBED);
  for (let i = 0; i < numLayers; i++) {
    const names = layerNames(i);
    for (const [key, name] of Object.entries(names)) {
      if (!config.attentionBias && (key === 'qBias' || key === 'kBias' || key === 'vBias')) continue;
      take(name);
    }
  }
  take(FINAL_NORM);
  if (!config.tieWordEmbeddings) take(LM_HEAD);
  return { config: { ...config, numLayers }, weights: out };
}
