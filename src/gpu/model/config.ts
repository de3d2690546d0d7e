import { z } from 'zod';

/**
 * A Llama/Qwen2-style decoder configuration, read from a Hugging Face `config.json` (the same
 * field names). Unknown fields are kept (passthrough) so a real model's config loads unchanged.
 */
const RawConfig = z
  .object({
    model_type: z.string().optional(),
    hidden_size: z.number().int().positive(),
    num_hidden_layers: z.number().int().positive(),
    num_attention_heads: z.number().int().positive(),
    num_key_value_heads: z.number().int().positive().optional(),
    intermediate_size: z.number().int().positive(),
    vocab_size: z.number().int().positive(),
    rope_theta: z.number().positive().optional(),
    rms_norm_eps: z.number().positive().optional(),
    tie_word_embeddings: z.boolean().optional(),
    head_dim: z.number().int().positive().nullable().optional(),
    attention_bias: z.boolean().optional(),
    rope_scaling: z.unknown().optional(),
    bos_token_id: z.number().int().nonnegative().nullable().optional(),
    eos_token_id: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullable().optional(),
    pad_token_id: z.number().int().nonnegative().nullable().optional(),
    max_position_embeddings: z.number().int().positive().optional(),
    _name_or_path: z.string().optional(),
  })
  .passthrough();

/** The validated, defaulted configuration the builder, the reference and the runtime use. */
export interface LlamaConfig {
  readonly modelType: string;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly vocabSize: number;
  readonly ropeTheta: number;
  readonly rmsNormEps: number;
  readonly tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2; Llama with `attention_bias: true`). */
  readonly attentionBias: boolean;
  readonly bosTokenId: number | undefined;
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | undefined;
  readonly maxPositionEmbeddings: number | undefined;
}

/** Raised for a config.json that cannot describe a model the builder supports. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Validates a parsed `config.json` and fills Hugging Face defaults.
 *
 * 1. Checks field types with zod; every problem is reported with its key and what was received.
 * 2. Defaults: `num_key_value_heads` = `num_attention_heads`, `head_dim` = hidden / heads,
 *    `rope_theta` = 10000, `rms_norm_eps` = 1e-6, `tie_word_embeddings` = false,
 *    `attention_bias` = (model_type === 'qwen2').
 * 3. Checks consistency: heads divisible by kv heads, even head_dim, no rope scaling.
 *
 * @param source where the JSON came from, for error messages (a file path).
 */
export function parseConfig(json: unknown, source = 'config.json'): LlamaConfig {
  const parsed = RawConfig.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('\n');
    throw new ConfigError(`${source}: invalid model config:\n${problems}`);
  }
  const c = parsed.data;
  const numKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % numKvHeads !== 0) {
    throw new ConfigError(
      `${source}: num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new ConfigError(
      `${source}: head_dim must be an even integer; got ${headDim} (hidden_size ${c.hidden_size} / num_attention_heads ${c.num_attention_heads}; set head_dim explicitly)`,
    );
  }
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) {
    throw new ConfigError(
      `${source}: rope_scaling ${JSON.stringify(c.rope_scaling)} is not supported by the graph builder (plain RoPE only); export the model with optimum and load its model.onnx instead`,
    );
  }
  const eos = c.eos_token_id;
  return {
    modelType: c.model_type ?? 'llama',
    hiddenSize: c.hidden_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    numKvHeads,
    headDim,
    intermediateSize: c.intermediate_size,
    vocabSize: c.vocab_size,
    ropeTheta: c.rope_theta ?? 10000,
    rmsNormEps: c.rms_norm_eps ?? 1e-6,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    attentionBias: c.attention_bias ?? c.model_type === 'qwen2',
    bosTokenId: c.bos_token_id ?? undefined,
    eosTokenIds: eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos],
    padTokenId: c.pad_token_id ?? undefined,
    maxPositionEmbeddings: c.max_position_embeddings,
  };
}

/** The inverse of `parseConfig`: a Hugging Face `config.json` object for a config. */
export function toHfConfig(c: LlamaConfig): Record<string, unknown> {
  return {
    architectures: [c.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: c.modelType,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    intermediate_size: c.intermediateSize,
    vocab_size: c.vocabSize,
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.rmsNormEps,
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_bias: c.attentionBias,
    hidden_act: 'silu',
    ...(c.bosTokenId !== undefined ? { bos_token_id: c.bosTokenId } : {}),
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : [...c.eosTokenIds],
    ...(c.padTokenId !== undefined ? { pad_token_id: c.padTokenId } : {}),
    ...(c.maxPositionEmbeddings !== undefined ? { max_position_embeddings: c.maxPositionEmbeddings } : {}),
    torch_dtype: 'float32',
  };
}

/** Number of parameters of the model a config describes (embeddings counted once when tied). */
export function parameterCount(c: LlamaConfig): number {
  const h = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const attn = h * q + 2 * h * kv + q * h + (c.attentionBias ? q + 2 * kv : 0);
  const mlp = 3 * h * c.intermediateSize;
  const perLayer = attn + mlp + 2 * h;
  const embed = c.vocabSize * h;
  return embed + c.numLayers * perLayer + h + (c.tieWordEmbeddings ? 0 : embed);
}
