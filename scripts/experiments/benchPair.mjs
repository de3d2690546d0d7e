// The bench spec pair for the experiments (after npm run build): the 27.8M target with its deep
// layers' output projections scaled by 0.03 (bench spec's `refineDeepLayers`) and a draft of its
// first layer (one intra-op thread, the k-step draft graphs for k = 1 … 6), both on the CPU.
import { parseConfig } from '../../dist/gpu/model/config.js';
import { randomWeights } from '../../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { truncatedDraft } from '../../dist/gpu/speculative/truncatedDraft.js';

/** The pair's configs and weights only: { config, weights, cut: { config, weights } }. */
export function benchPairWeights() {
  const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'bench pair');
  const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
  for (const [name, t] of weights) if (/layers\.([1-9]\d*)\.(self_attn\.o_proj|mlp\.down_proj)/.test(name)) weights.set(name, { dims: t.dims, data: t.data.map((x) => x * 0.03) });
  return { config, weights, cut: truncatedDraft(config, weights, 1) };
}

export async function benchPair() {
  const { config, weights, cut } = benchPairWeights();
  const target = await loadDecoder({ config, weights, name: 'target' }, { device: 'cpu' });
  const draft = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'draft' }, { device: 'cpu', multiStepDraft: true, intraOpNumThreads: 1 });
  await draft.prepareGreedyDraft([1, 2, 3, 4, 5, 6]);
  return { config, target, draft };
}
