import type { Graph, ValueInfo } from '../graph/ir.js';
import { attr } from '../graph/ir.js';
import { serializeModel } from '../graph/serialize.js';
import type { LlamaConfig } from './config.js';
import { buildLlamaGraph } from './llamaGraph.js';
import type { WeightMap } from '../weights/tensor.js';

/**
 * One speculative round as ONE ONNX graph: a draft model's k greedy steps (`greedyDraftSteps`)
 * and the target's pass over each row's pending tokens followed by the k drafts.
 *
 * Why: on a CPU a target forward that follows a couple of milliseconds of other work — the draft
 * model's own session run — costs 6–27% more than one run back to back
 * (`scripts/experiments/gap-before-forward.mjs`), and on WebGPU every session run has a fixed
 * dispatch cost. One run per round leaves no gap and runs the draft on the target's thread pool.
 * The graph's outputs equal the two graphs run one after the other
 * (test/int/roundGraph.int.spec.ts); `OrtRoundDecoder` runs it for the engine (joint rounds,
 * docs/speculative-decoding.md).
 *
 * I/O: the draft graph's inputs and outputs prefixed with `draft.` (`draft.input_ids`,
 * `draft.attention_mask`, `draft.position_ids`, `draft.past_key_values.{i}.*` →
 * `draft.draft_tokens` [B, k], `draft.present.{i}.*`); the target's inputs but `input_ids`,
 * which the graph makes as Concat(`target_prefix_ids` [B, T0], `draft.draft_tokens`), so the
 * target's `attention_mask` and `position_ids` cover T0 + k new columns (the caller knows where
 * the drafts go: right after each row's prefix); outputs `logits` [B, T0 + k, V] and
 * `present.{i}.*`. The draft's symbolic dims are renamed (`draft.sequence_length`, …) except
 * `batch_size`, which both share.
 */
export const DRAFT_PREFIX = 'draft.';

/** Every value, node and initializer name (and symbolic dim but batch_size) of `g` prefixed. */
function prefixGraph(g: Graph, prefix: string): Graph {
  const name = (n: string) => (n === '' ? '' : `${prefix}${n}`);
  const info = (v: ValueInfo): ValueInfo => ({ ...v, name: name(v.name), shape: v.shape.map((d) => (typeof d === 'string' && d !== 'batch_size' ? `${prefix}${d}` : d)) });
  return {
    name: g.name,
    inputs: g.inputs.map(info),
    outputs: g.outputs.map(info),
    initializers: g.initializers.map((t) => ({ ...t, name: name(t.name) })),
    nodes: g.nodes.map((n) => ({ ...n, name: name(n.name), inputs: n.inputs.map(name), outputs: n.outputs.map(name) })),
    valueInfo: (g.valueInfo ?? []).map(info),
  };
}

export interface RoundGraphOptions {
  readonly target: { readonly config: LlamaConfig; readonly weights: WeightMap };
  readonly draft: { readonly config: LlamaConfig; readonly weights: WeightMap };
  /** Draft tokens per row (≥ 1). */
  readonly k: number;
  /** The graph variant of both halves (`LlamaGraphOptions.fused`). */
  readonly fused?: boolean;
  /** Declare the target's `num_logits_to_keep` input (`LlamaGraphOptions.logitsToKeep`). */
  readonly logitsToKeep?: boolean;
}

/** Builds the round graph (see the module comment for its I/O). */
export function buildRoundGraph(o: RoundGraphOptions): Graph {
  if (o.draft.config.vocabSize !== o.target.config.vocabSize) {
    throw new Error(`buildRoundGraph: the draft's vocab_size ${o.draft.config.vocabSize} differs from the target's ${o.target.config.vocabSize}`);
  }
  const variant = { fused: o.fused ?? false };
  const draft = prefixGraph(buildLlamaGraph(o.draft.config, { weightsAs: 'initializers', weights: o.draft.weights, greedyDraftSteps: o.k, ...variant, name: 'draft' }), DRAFT_PREFIX);
  const target = buildLlamaGraph(o.target.config, { weightsAs: 'initializers', weights: o.target.weights, logitsToKeep: o.logitsToKeep ?? false, ...variant, name: 'target' });
  // A draft cut from the target (`truncatedDraft`) shares its tensors: where a draft initializer
  // holds the very array a target initializer holds, the draft's nodes read the target's (one
  // copy in the model, not two).
  const targetByData = new Map(target.initializers.map((t) => [t.data, t]));
  const alias = new Map<string, string>();
  for (const t of draft.initializers) {
    const same = targetByData.get(t.data);
    if (same && same.dtype === t.dtype && same.dims.join() === t.dims.join()) alias.set(t.name, same.name);
  }
  const nodes = draft.nodes.map((n) => (n.inputs.some((i) => alias.has(i)) ? { ...n, inputs: n.inputs.map((i) => alias.get(i) ?? i) } : n));
  const ids = target.inputs.find((v) => v.name === 'input_ids')!;
  const prefix: ValueInfo = { name: 'target_prefix_ids', dtype: 'int64', shape: ['batch_size', 'prefix_length'] };
  const concat = {
    name: 'round.input_ids',
    opType: 'Concat',
    domain: '',
    inputs: [prefix.name, `${DRAFT_PREFIX}draft_tokens`],
    outputs: [ids.name],
    attrs: { axis: attr.int(1) },
  };
  return {
    name: 'speculative_round',
    inputs: [...draft.inputs, prefix, ...target.inputs.filter((v) => v !== ids)],
    outputs: [...draft.outputs, ...target.outputs],
    initializers: [...draft.initializers.filter((t) => !alias.has(t.name)), ...target.initializers],
    nodes: [...nodes, concat, ...target.nodes],
    valueInfo: [...(draft.valueInfo ?? []), ...(target.valueInfo ?? [])],
  };
}

/** `buildRoundGraph` encoded as ONNX ModelProto bytes. */
export function buildRoundModel(o: RoundGraphOptions): Uint8Array {
  return serializeModel(buildRoundGraph(o));
}
