/**
 * The train-step graph: the builder's Llama decoder with its weights as inputs, a loss fragment
 * and the reverse-mode gradient of the loss with respect to every weight.
 *
 *   inputs   every weight (Hugging Face names) + input_ids, attention_mask, position_ids [B, T]
 *            + loss_mask [B, T] + per kind: advantages, old_logprobs, gen_logprobs,
 *            ref_logprobs [B, T] / teacher_logits [B, T, V]
 *   outputs  loss, diag.<name> (scalars), grad.<weight name> (the weight's shape)
 */
import type { DType, Graph } from '../graph/ir.js';
import { GraphBuilder } from '../graph/ir.js';
import type { LlamaConfig } from '../model/config.js';
import { buildLlamaGraph } from '../model/llamaGraph.js';
import { llamaWeightSpecs } from '../model/llamaWeights.js';
import { gradient } from '../autodiff/gradient.js';
import { convertFloats } from '../autodiff/precision.js';
import type { LossOptions } from './losses.js';
import { appendLoss } from './losses.js';

export interface TrainStepSpec {
  readonly config: LlamaConfig;
  readonly batch: number;
  readonly seqLen: number;
  readonly loss: LossOptions;
  /** Sampling temperature of the rollouts (the logprobs the loss uses are at this temperature). */
  readonly temperature?: number;
  /** float32 for training; float64 for the verification against references. */
  readonly dtype?: Extract<DType, 'float32' | 'float64'>;
}

export interface TrainStepGraph {
  readonly graph: Graph;
  /** Weight names in the builder's order (graph inputs). */
  readonly weightNames: readonly string[];
  /** weight → gradient output name. */
  readonly gradOutputs: ReadonlyMap<string, string>;
  /** diagnostic name → output name. */
  readonly diagnostics: ReadonlyMap<string, string>;
  readonly lossOutput: string;
  /** The batch inputs the graph declares (beyond weights). */
  readonly batchInputs: readonly string[];
}

export const gradOutputName = (w: string): string => `grad.${w}`;

/**
 * Builds the train-step graph.
 *
 * 1. The decoder graph with weights as inputs and no KV cache; converted to float64 if asked.
 * 2. Re-emitted with static [B, T] input shapes; the logits output is dropped (only the loss
 *    and diagnostics leave the graph, not [B, T, V]).
 * 3. The loss fragment (declares its batch inputs) and `diag.*` outputs.
 * 4. Reverse-mode autodiff w.r.t. every weight.
 */
export function buildTrainStepGraph(spec: TrainStepSpec): TrainStepGraph {
  const { config: c, batch: B, seqLen: T } = spec;
  const dtype = spec.dtype ?? 'float32';
  let model = buildLlamaGraph(c, { weightsAs: 'inputs', kvCache: false, name: 'train_step' });
  if (dtype === 'float64') model = convertFloats(model, 'float32', 'float64');
  const weightNames = llamaWeightSpecs(c).map((s) => s.name);
  const g = new GraphBuilder('train_step');
  const staticShape: Record<string, number[]> = { input_ids: [B, T], attention_mask: [B, T], position_ids: [B, T] };
  for (const i of model.inputs) g.input(i.name, i.dtype, staticShape[i.name] ?? (i.shape as number[]));
  for (const t of model.initializers) g.initializer(t.name, t.dtype, t.dims, t.data);
  for (const n of model.nodes) g.op(n.opType, n.inputs, n.attrs, { outputs: n.outputs, domain: n.domain, name: n.name });
  const frag = appendLoss(
    { g, dtype, logits: 'logits', inputIds: 'input_ids', batch: B, seqLen: T, vocab: c.vocabSize, temperature: spec.temperature ?? 1 },
    spec.loss,
  );
  g.output(frag.loss, dtype, [], 'loss');
  const diagnostics = new Map<string, string>();
  for (const [k, v] of frag.diagnostics) {
    const name = `diag.${k}`;
    g.output(v, dtype, [], name);
    diagnostics.set(k, name);
  }
  const withLoss = g.build();
  const batchInputs = withLoss.inputs.map((i) => i.name).filter((n) => !weightNames.includes(n));
  const { graph, gradOutputs } = gradient(withLoss, { loss: 'loss', wrt: weightNames, gradName: gradOutputName });
  return { graph, weightNames, gradOutputs, diagnostics, lossOutput: 'loss', batchInputs };
}
