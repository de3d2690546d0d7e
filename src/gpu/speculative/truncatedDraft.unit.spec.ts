import { describe, expect, it } from 'vitest';
import { parseConfig } from '../model/config.js';
import { checkWeights, randomWeights } from '../model/llamaWeights.js';
import { Xoshiro128 } from '../sampling/rng.js';
import { truncatedDraft } from './truncatedDraft.js';

describe('truncatedDraft', () => {
  for (const [tie, bias] of [[false, false], [true, true]] as const) {
    it(`keeps embedding, the first layers, final norm and head (tied ${tie}, bias ${bias}), sharing the tensors`, () => {
      const config = parseConfig({ hidden_size: 8, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 16, vocab_size: 10, tie_word_embeddings: tie, attention_bias: bias });
      const weights = randomWeights(config, new Xoshiro128(1));
      const cut = truncatedDraft(config, weights, 2);
      expect(cut.config.numLayers).toBe(2);
      expect(cut.config.vocabSize).toBe(10);
      expect(() => checkWeights(cut.config, cut.weights)).not.toThrow();
      expect([...cut.weights.keys()].some((n) => n.startsWith('model.layers.2.'))).toBe(false);
      for (const [name, t] of cut.weights) expect(t).toBe(weights.get(name));
    });
  }
  it('rejects a cut that is not strictly shallower than the target', () => {
    const config = parseConfig({ hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 16, vocab_size: 10 });
    const weights = randomWeights(config, new Xoshiro128(1));
    expect(() => truncatedDraft(config, weights, 2)).toThrow(/\[1, 1\] for a 2-layer target, received 2/);
  });
});
