import type { LlamaConfig } from './config.js';
import type { F32Tensor, WeightMap } from '../weights/tensor.js';
import { numel } from '../weights/tensor.js';
import type { Rng } from '../sampling/rng.js';
import { normal } from '../sampling/rng.js';

/** One weight tensor of a Llama-style decoder: Hugging Face name and torch shape. */
export interface WeightSpec {
  readonly name: string;
  /** torch layout: Linear weights are [out, in]. */
  readonly dims: readonly number[];
  readonly kind: 'embedding' | 'linear' | 'bias' | 'norm';
}

/** Hugging Face tensor names of layer `i`. */
export const layerNames = (i: number) => ({
  q: `model.layers.${i}.self_attn.q_proj.weight`,
  k: `model.layers.${i}.self_attn.k_proj.weight`,
  v: `model.layers.${i}.self_attn.v_proj.weight`,
  o: `model.layers.${i}.self_attn.o_proj.weight`,
  qBias: `model.layers.${i}.self_attn.q_proj.bias`,
  kBias: `model.layers.${i}.self_attn.k_proj.bias`,
  vBias: `model.layers.${i}.self_attn.v_proj.bias`,
  gate: `model.layers.${i}.mlp.gate_proj.weight`,
  up: `model.layers.${i}.mlp.up_proj.weight`,
  down: `model.layers.${i}.mlp.down_proj.weight`,
  inputNorm: `model.layers.${i}.input_layernorm.weight`,
  postNorm: `model.layers.${i}.post_attention_layernorm.weight`,
});

export const EMBED = 'model.embed_tokens.weight';
export const FINAL_NORM = 'model.norm.weight';
export const LM_HEAD = 'lm_head.weight';

/** Every tensor a config's model has, in a stable order (embedding, layers, norm, head). */
export function llamaWeightSpecs(c: LlamaConfig): WeightSpec[] {
  const h = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const specs: WeightSpec[] = [{ name: EMBED, dims: [c.vocabSize, h], kind: 'embedding' }];
  for (let i = 0; i < c.numLayers; i++) {
    const n = layerNames(i);
    specs.push(
      { name: n.inputNorm, dims: [h], kind: 'norm' },
      { name: n.q, dims: [q, h], kind: 'linear' },
      { name: n.k, dims: [kv, h], kind: 'linear' },
      { name: n.v, dims: [kv, h], kind: 'linear' },
    );
    if (c.attentionBias) {
      specs.push({ name: n.qBias, dims: [q], kind: 'bias' }, { name: n.kBias, dims: [kv], kind: 'bias' }, { name: n.vBias, dims: [kv], kind: 'bias' });
    }
    specs.push(
      { name: n.o, dims: [h, q], kind: 'linear' },
      { name: n.postNorm, dims: [h], kind: 'norm' },
      { name: n.gate, dims: [c.intermediateSize, h], kind: 'linear' },
      { name: n.up, dims: [c.intermediateSize, h], kind: 'linear' },
      { name: n.down, dims: [h, c.intermediateSize], kind: 'linear' },
    );
  }
  specs.push({ name: FINAL_NORM, dims: [h], kind: 'norm' });
  if (!c.tieWordEmbeddings) specs.push({ name: LM_HEAD, dims: [c.vocabSize, h], kind: 'linear' });
  return specs;
}

/**
 * Checks that `weights` holds every tensor of the config with the right shape; names the
 * missing/misshapen tensors and the file. Extra tensors (e.g. `lm_head.weight` of a tied model,
 * rotary caches) are ignored.
 */
export function checkWeights(c: LlamaConfig, weights: WeightMap, source = 'weights'): void {
  const problems: string[] = [];
  for (const s of llamaWeightSpecs(c)) {
    const t = weights.get(s.name);
    if (!t) problems.push(`missing "${s.name}" (expected shape [${s.dims}])`);
    else if (t.dims.length !== s.dims.length || t.dims.some((d, i) => d !== s.dims[i])) {
      problems.push(`"${s.name}" has shape [${t.dims}], config.json implies [${s.dims}]`);
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join('\n  - ');
    const more = problems.length > 10 ? `\n  … and ${problems.length - 10} more` : '';
    throw new Error(`${source}: weights do not match config.json:\n  - ${shown}${more}`);
  }
}

/**
 * Seeded random weights for a config, initialised like Hugging Face Llama: linear and embedding
 * N(0, std²) (default std 0.02), norms 1 (or 1 ± `normJitter`·N(0,1) to exercise the norm
 * weights in tests), biases N(0, std²).
 */
export function randomWeights(c: LlamaConfig, rng: Rng, opts: { std?: number; normJitter?: number } = {}): Map<string, F32Tensor> {
  const std = opts.std ?? 0.02;
  const jitter = opts.normJitter ?? 0;
  const out = new Map<string, F32Tensor>();
  for (const s of llamaWeightSpecs(c)) {
    const data = new Float32Array(numel(s.dims));
    for (let i = 0; i < data.length; i++) {
      data[i] = s.kind === 'norm' ? 1 + jitter * normal(rng) : std * normal(rng);
    }
    out.set(s.name, { dims: s.dims, data });
  }
  return out;
}
