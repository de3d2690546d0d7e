import { GraphBuilder, attr } from '../graph/ir.js';
import type { Graph } from '../graph/ir.js';
import { serializeModel } from '../graph/serialize.js';
import type { LlamaConfig } from './config.js';
import type { WeightMap } from '../weights/tensor.js';
import { EMBED, FINAL_NORM, LM_HEAD, checkWeights, layerNames, llamaWeightSpecs } from './llamaWeights.js';

/**
 * The Llama-style decoder as an ONNX graph, built from plain ONNX (opset 17) ops only, with the
 * standard Hugging Face / optimum decoder I/O:
 *
 *   inputs  input_ids int64 [B, T], attention_mask int64 [B, P+T], position_ids int64 [B, T],
 *           past_key_values.{i}.key|value float32 [B, Hkv, P, D]
 *   outputs logits float32 [B, T, V], present.{i}.key|value float32 [B, Hkv, P+T, D]
 *
 * Ops on the differentiable path (weights → logits; the autodiff needs a gradient for each):
 *   Gather (embedding rows), Transpose, MatMul (with batch broadcasting), Reshape, Unsqueeze,
 *   Mul, Add, Div, Sqrt, ReduceMean, Neg, Slice, Concat, Softmax, Sigmoid.
 * Ops only on the index/mask/position path (no gradient needed; no weight flows through them):
 *   Shape, Gather (of a shape), Sub, Range, LessOrEqual, And, Cast, Where, Unsqueeze, Cos, Sin.
 * Listed in `LLAMA_OPS`; a test checks the emitted graph uses nothing else.
 *
 * Semantics, per batch row b: query t (cache slot P+t) attends to cache slot j iff j ≤ P+t and
 * attention_mask[b, j] = 1. Rotary angles come from position_ids only, so a caller that masks out
 * slots (left padding, rejected draft tokens) and passes its own positions gets the same result
 * as if those slots did not exist. Grouped-query attention broadcasts K/V over the query heads of
 * a group inside MatMul ([B, Hkv, rep, T, D] × [B, Hkv, 1, D, S]) instead of copying them.
 */
export const LLAMA_OPS: readonly string[] = [
  'Gather', 'Transpose', 'MatMul', 'Reshape', 'Unsqueeze', 'Mul', 'Add', 'Div', 'Sqrt', 'ReduceMean',
  'Neg', 'Slice', 'Concat', 'Softmax', 'Sigmoid', 'Identity',
  'Shape', 'Sub', 'Range', 'LessOrEqual', 'And', 'Cast', 'Where', 'Cos', 'Sin',
];

/** Ops the fused variant adds (SimplifiedLayerNormalization: ONNX domain contrib; RotaryEmbedding: com.microsoft). */
export const FUSED_EXTRA_OPS: readonly string[] = ['SimplifiedLayerNormalization', 'RotaryEmbedding', 'Split'];

export interface LlamaGraphOptions {
  /**
   * 'initializers': weights baked into the model (inference; needs `weights`).
   * 'inputs': every weight is a float32 graph input named by its Hugging Face name (training:
   * the weights change every step without rebuilding the session).
   */
  readonly weightsAs: 'initializers' | 'inputs';
  readonly weights?: WeightMap;
  /** Emit past_key_values inputs and present outputs (default true). */
  readonly kvCache?: boolean;
  /**
   * Declare the optional int64 scalar input `num_logits_to_keep` (as transformers/optimum do):
   * logits only for the last n positions, all when 0. Saves the LM head and the logits copy
   * on prefill. Default false.
   */
  readonly logitsToKeep?: boolean;
  /**
   * Inference-only variant with fewer, larger ops for the GPU (op count dominates on WebGPU, see
   * REFERENCE.md): RMSNorm as SimplifiedLayerNormalization, RoPE as com.microsoft
   * RotaryEmbedding, q/k/v and gate/up projections as one MatMul + Split each, weights stored
   * pre-transposed. Same I/O and mask semantics (attention stays plain, so holes still work);
   * positions must be < `maxPositions`. Needs weightsAs 'initializers'.
   */
  readonly fused?: boolean;
  /** Rotary cache length of the fused variant (default max_position_embeddings, else 4096). */
  readonly maxPositions?: number;
  /**
   * Greedy multi-step drafting (`buildGreedyDraftModel`): the graph runs the decoder k times in
   * one session run — over the input, then over each new argmax token — and outputs
   * `draft_tokens` int64 [B, k] and `present.*` with past + T + k − 1 slots (the last draft is
   * not fed) instead of logits. Rows must be left-padded (each row's last token in the last
   * column). Needs the KV cache and weightsAs 'initializers'.
   */
  readonly greedyDraftSteps?: number;
  readonly name?: string;
}

const ONNX_FLOAT = 1;
const ONNX_BOOL = 9;

/** Names of the cache inputs/outputs of layer i. */
export const pastName = (i: number, kv: 'key' | 'value') => `past_key_values.${i}.${kv}`;
export const presentName = (i: number, kv: 'key' | 'value') => `present.${i}.${kv}`;

/**
 * Builds the decoder graph.
 *
 * 1. Declares the standard inputs; weights as initializers or inputs.
 * 2. Mask: causal (slot j ≤ P+t) AND attention_mask → additive bias 0 / −1e9 of shape
 *    [B, 1, 1, T, P+T] (broadcast over kv heads and query heads of a group).
 * 3. Rotary cos/sin [B, 1, T, D] from position_ids and the config's rope_theta (rotate-half form).
 * 4. Per layer: RMSNorm → q/k/v projections → RoPE → concat past → GQA attention → o_proj →
 *    residual; RMSNorm → SwiGLU MLP → residual.
 * 5. Final RMSNorm and LM head (the embedding when `tie_word_embeddings`).
 */
export function buildLlamaGraph(c: LlamaConfig, opts: LlamaGraphOptions): Graph {
  const useCache = opts.kvCache ?? true;
  const fused = opts.fused ?? false;
  if (fused && opts.weightsAs !== 'initializers') throw new Error('buildLlamaGraph: the fused variant needs weightsAs "initializers"');
  if (opts.weightsAs === 'initializers') {
    if (!opts.weights) throw new Error('buildLlamaGraph: weightsAs "initializers" needs `weights`');
    checkWeights(c, opts.weights);
  }
  const g = new GraphBuilder(opts.name ?? 'llama');
  const D = c.headDim;
  const Hq = c.numHeads;
  const Hkv = c.numKvHeads;
  const rep = Hq / Hkv;

  const inputIds = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positionIds = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);
  const past: { key: string; value: string }[] = [];
  if (useCache) {
    for (let i = 0; i < c.numLayers; i++) {
      past.push({
        key: g.input(pastName(i, 'key'), 'float32', ['batch_size', Hkv, 'past_sequence_length', D]),
        value: g.input(pastName(i, 'value'), 'float32', ['batch_size', Hkv, 'past_sequence_length', D]),
      });
    }
  }
  const keep = opts.logitsToKeep ? g.input('num_logits_to_keep', 'int64', []) : undefined;
  // weights: all declared up front as inputs (stable input order for training), or created as
  // initializers on first use (the fused variant stores some only concatenated/transposed)
  const weight = new Map<string, string>();
  const specs = new Map(llamaWeightSpecs(c).map((s) => [s.name, s]));
  if (opts.weightsAs === 'inputs') for (const s of specs.values()) weight.set(s.name, g.input(s.name, 'float32', s.dims));
  const W = (name: string): string => {
    let v = weight.get(name);
    if (v === undefined) {
      v = g.initializer(name, 'float32', specs.get(name)!.dims, opts.weights!.get(name)!.data);
      weight.set(name, v);
    }
    return v;
  };
  /** [in, out] initializer: the row-concatenation of torch weights [out_i, in], transposed. */
  const derived = new Map<string, string>(); // made once per graph, shared by every pass
  const transposedInit = (names: readonly string[]): string => {
    const key = `${names.join('+')}.T`;
    const made = derived.get(key);
    if (made !== undefined) return made;
    const mats = names.map((n) => ({ dims: specs.get(n)!.dims, data: opts.weights!.get(n)!.data }));
    const inn = mats[0]!.dims[1]!;
    const out = mats.reduce((a, m) => a + m.dims[0]!, 0);
    const data = new Float32Array(inn * out);
    let col = 0;
    for (const m of mats) {
      const rows = m.dims[0]!;
      for (let o = 0; o < rows; o++) for (let i = 0; i < inn; i++) data[i * out + col + o] = m.data[o * inn + i]!;
      col += rows;
    }
    const v = g.initializer(key, 'float32', [inn, out], data);
    derived.set(key, v);
    return v;
  };
  const concatInit = (names: readonly string[]): string => {
    const key = names.join('+');
    const made = derived.get(key);
    if (made !== undefined) return made;
    const parts = names.map((n) => opts.weights!.get(n)!.data);
    const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      data.set(p, at);
      at += p.length;
    }
    const v = g.initializer(key, 'float32', [data.length], data);
    derived.set(key, v);
    return v;
  };
  const i64 = (v: readonly number[]) => g.constInt64(v);
  const scalarI64 = (v: number) => g.constInt64([v], []);

  // --- rotary caches of the fused variant: [maxPos, D/2], shared by every pass ---
  const invFreq = Array.from({ length: D / 2 }, (_, i) => 1 / c.ropeTheta ** ((2 * i) / D));
  let cosCache = '';
  let sinCache = '';
  if (fused) {
    const maxPos = opts.maxPositions ?? c.maxPositionEmbeddings ?? 4096;
    const cc = new Float32Array(maxPos * (D / 2));
    const sc = new Float32Array(maxPos * (D / 2));
    for (let p = 0; p < maxPos; p++) {
      for (let i = 0; i < D / 2; i++) {
        const ang = Math.fround(p * Math.fround(invFreq[i]!)); // as the plain graph: fp32 angle
        cc[p * (D / 2) + i] = Math.cos(ang);
        sc[p * (D / 2) + i] = Math.sin(ang);
      }
    }
    cosCache = g.initializer('rotary.cos_cache', 'float32', [maxPos, D / 2], cc);
    sinCache = g.initializer('rotary.sin_cache', 'float32', [maxPos, D / 2], sc);
  }

  const rmsNorm = (x: string, w: string): string => {
    if (fused) return g.op1('SimplifiedLayerNormalization', [x, w], { axis: attr.int(-1), epsilon: attr.float(c.rmsNormEps), stash_type: attr.int(1) });
    const ms = g.op1('ReduceMean', [g.op1('Mul', [x, x])], { axes: attr.ints([-1]), keepdims: attr.int(1) }); // [B, T, 1]
    const rms = g.op1('Sqrt', [g.op1('Add', [ms, g.constFloat([c.rmsNormEps], [])])]);
    return g.op1('Mul', [g.op1('Div', [x, rms]), w]);
  };
  const linear = (x: string, w: string, b?: string): string => {
    const wT = fused ? transposedInit([w]) : g.op1('Transpose', [W(w)], { perm: attr.ints([1, 0]) });
    const y = g.op1('MatMul', [x, wT]);
    return b === undefined ? y : g.op1('Add', [y, b]);
  };
  // rotate-half slice bounds of the plain graph, made on first use and shared by every pass (the
  // fused graph rotates in RotaryEmbedding: made there, ONNX Runtime would warn of unused initializers)
  let halfBounds: { lo: string[]; hi: string[] } | undefined;
  const half = () => (halfBounds ??= { lo: [i64([0]), i64([D / 2]), i64([3])], hi: [i64([D / 2]), i64([D]), i64([3])] });
  const headsShape = (h: number) => i64([0, 0, h, D]);
  const toHeads = (x: string, h: number) =>
    g.op1('Transpose', [g.op1('Reshape', [x, headsShape(h)])], { perm: attr.ints([0, 2, 1, 3]) }); // [B, h, T, D]
  const qGroupShape = i64([0, Hkv, rep, -1, D]);
  const qMergeShape = i64([0, Hq, -1, D]);
  const flatShape = i64([0, 0, Hq * D]);
  const scale = g.constFloat([1 / Math.sqrt(D)], []);
  const groupAxis = i64([2]);

  /**
   * One decoder pass over `ids` [B, T] with `mask` [B, P+T], `pos` [B, T] and the cache `kv`
   * (P slots): the logits [B, T', V] (T' = T, or what `cut` leaves of h) and the presents.
   * `presentNames`: name the presents `present.{i}.*` (the graph's outputs) as they are made.
   */
  const pass = (ids: string, passMask: string, pos: string, kv: { key: string; value: string }[], cut: (h: string) => string, presentNames: boolean) => {
    // --- attention bias [B, 1, 1, T, S] ---
    const T = g.op1('Gather', [g.op1('Shape', [ids]), scalarI64(1)], { axis: attr.int(0) });
    const S = g.op1('Gather', [g.op1('Shape', [passMask]), scalarI64(1)], { axis: attr.int(0) });
    const P = g.op1('Sub', [S, T]);
    const keySlot = g.op1('Range', [scalarI64(0), S, scalarI64(1)]); // [S]
    const querySlot = g.op1('Unsqueeze', [g.op1('Range', [P, S, scalarI64(1)]), i64([1])]); // [T, 1]
    const causal = g.op1('LessOrEqual', [keySlot, querySlot]); // [T, S]
    const present = g.op1('Unsqueeze', [g.op1('Cast', [passMask], { to: attr.int(ONNX_BOOL) }), i64([1, 2, 3])]); // [B,1,1,1,S]
    const allowed = g.op1('And', [causal, present]); // [B, 1, 1, T, S]
    const bias = g.op1('Where', [allowed, g.constFloat([0], []), g.constFloat([-1e9], [])]);

    // --- rotary: [B, 1, T, D] tables from the positions (plain), or the caches (fused) ---
    let cos = cosCache;
    let sin = sinCache;
    if (!fused) {
      const posF = g.op1('Unsqueeze', [g.op1('Cast', [pos], { to: attr.int(ONNX_FLOAT) }), i64([2])]); // [B, T, 1]
      const freqs = g.op1('Mul', [posF, g.constFloat(invFreq, [D / 2])]); // [B, T, D/2]
      const emb = g.op1('Concat', [freqs, freqs], { axis: attr.int(-1) }); // [B, T, D]
      cos = g.op1('Unsqueeze', [g.op1('Cos', [emb]), i64([1])]); // [B, 1, T, D]
      sin = g.op1('Unsqueeze', [g.op1('Sin', [emb]), i64([1])]);
    }
    const rope = (x: string): string => {
      if (fused) return g.op1('RotaryEmbedding', [x, pos, cos, sin], { interleaved: attr.int(0) }, 'com.microsoft');
      // x [B, H, T, D]; rotate_half(x) = concat(-x[..., D/2:], x[..., :D/2])
      const x1 = g.op1('Slice', [x, ...half().lo]);
      const x2 = g.op1('Slice', [x, ...half().hi]);
      const rot = g.op1('Concat', [g.op1('Neg', [x2]), x1], { axis: attr.int(3) });
      return g.op1('Add', [g.op1('Mul', [x, cos]), g.op1('Mul', [rot, sin])]);
    };

    const presents: { key: string; value: string }[] = [];
    let h = g.op1('Gather', [W(EMBED), ids], { axis: attr.int(0) }); // [B, T, H]
    for (let i = 0; i < c.numLayers; i++) {
      const n = layerNames(i);
      const x = rmsNorm(h, W(n.inputNorm));
      let qp: string, kp: string, vp: string; // [B, T, H·D] projections
      if (fused) {
        let qkv = g.op1('MatMul', [x, transposedInit([n.q, n.k, n.v])]);
        if (c.attentionBias) qkv = g.op1('Add', [qkv, concatInit([n.qBias, n.kBias, n.vBias])]);
        [qp, kp, vp] = g.op('Split', [qkv, i64([Hq * D, Hkv * D, Hkv * D])], { axis: attr.int(-1) }, { outputs: 3 }) as [string, string, string];
      } else {
        qp = linear(x, n.q, c.attentionBias ? W(n.qBias) : undefined);
        kp = linear(x, n.k, c.attentionBias ? W(n.kBias) : undefined);
        vp = linear(x, n.v, c.attentionBias ? W(n.vBias) : undefined);
      }
      const q = rope(toHeads(qp, Hq)); // [B, Hq, T, D]
      let k = rope(toHeads(kp, Hkv)); // [B, Hkv, T, D]
      let v = toHeads(vp, Hkv);
      if (useCache) {
        const named = (kind: 'key' | 'value') => (presentNames ? { outputs: [presentName(i, kind)] } : {});
        k = g.op('Concat', [kv[i]!.key, k], { axis: attr.int(2) }, named('key'))[0]!; // [B, Hkv, S, D]
        v = g.op('Concat', [kv[i]!.value, v], { axis: attr.int(2) }, named('value'))[0]!;
        if (presentNames) {
          g.output(k, 'float32', ['batch_size', Hkv, 'total_sequence_length', D]);
          g.output(v, 'float32', ['batch_size', Hkv, 'total_sequence_length', D]);
        }
        presents.push({ key: k, value: v });
      }
      const q5 = g.op1('Reshape', [q, qGroupShape]); // [B, Hkv, rep, T, D]
      const kT = g.op1('Transpose', [g.op1('Unsqueeze', [k, groupAxis])], { perm: attr.ints([0, 1, 2, 4, 3]) }); // [B, Hkv, 1, D, S]
      const scores = g.op1('Add', [g.op1('Mul', [g.op1('MatMul', [q5, kT]), scale]), bias]); // [B, Hkv, rep, T, S]
      const probs = g.op1('Softmax', [scores], { axis: attr.int(-1) });
      const ctx = g.op1('MatMul', [probs, g.op1('Unsqueeze', [v, groupAxis])]); // [B, Hkv, rep, T, D]
      const merged = g.op1('Transpose', [g.op1('Reshape', [ctx, qMergeShape])], { perm: attr.ints([0, 2, 1, 3]) }); // [B, T, Hq, D]
      h = g.op1('Add', [h, linear(g.op1('Reshape', [merged, flatShape]), n.o)]);

      const y = rmsNorm(h, W(n.postNorm));
      let gate: string, up: string; // [B, T, I]
      if (fused) {
        [gate, up] = g.op('Split', [g.op1('MatMul', [y, transposedInit([n.gate, n.up])]), i64([c.intermediateSize, c.intermediateSize])], { axis: attr.int(-1) }, { outputs: 2 }) as [string, string];
      } else {
        gate = linear(y, n.gate);
        up = linear(y, n.up);
      }
      const act = g.op1('Mul', [g.op1('Mul', [gate, g.op1('Sigmoid', [gate])]), up]);
      h = g.op1('Add', [h, linear(act, n.down)]);
    }
    const logits = linear(rmsNorm(cut(h), W(FINAL_NORM)), c.tieWordEmbeddings ? EMBED : LM_HEAD); // [B, T', V]
    return { logits, presents };
  };

  const steps = opts.greedyDraftSteps;
  if (steps !== undefined) {
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`buildLlamaGraph: greedyDraftSteps must be an integer ≥ 1, received ${steps}`);
    if (!useCache) throw new Error('buildLlamaGraph: greedyDraftSteps needs the KV cache');
    // Pass 1 over the input (logits of the last column only), then one pass per new token: its
    // position follows the input's last, its slot is attended (mask 1), its cache slot appended.
    const big = i64([2 ** 62]);
    const lastColumn = (x: string) => g.op1('Slice', [x, i64([-1]), big, i64([1])]);
    const posLast = lastColumn(positionIds); // [B, 1]
    // [B, 1] of 1: the input mask's last column (each row's last token, left-padded). Made from
    // the inputs, not from the drafted tokens, so the mask and position path (int64 ops, which
    // may run on the CPU under WebGPU) never waits for a step's argmax on the GPU.
    const ones = lastColumn(mask);
    let ids = inputIds;
    let passMask = mask;
    let pos = positionIds;
    let kv = past;
    const tokens: string[] = [];
    for (let j = 0; j < steps; j++) {
      const last = j === steps - 1;
      const r = pass(ids, passMask, pos, kv, j === 0 ? lastColumn : (h) => h, false);
      const x = g.op1('ArgMax', [r.logits], { axis: attr.int(-1), keepdims: attr.int(0) }); // [B, 1] int64
      tokens.push(x);
      kv = r.presents;
      if (last) break;
      passMask = g.op1('Concat', [passMask, ones], { axis: attr.int(1) });
      pos = g.op1('Add', [posLast, scalarI64(j + 1)]);
      ids = x;
    }
    const draft = tokens.length === 1 ? tokens[0]! : g.op1('Concat', tokens, { axis: attr.int(1) });
    g.output(draft, 'int64', ['batch_size', steps], 'draft_tokens');
    kv.forEach((p, i) => {
      g.output(p.key, 'float32', ['batch_size', Hkv, 'total_sequence_length', D], presentName(i, 'key'));
      g.output(p.value, 'float32', ['batch_size', Hkv, 'total_sequence_length', D], presentName(i, 'value'));
    });
    const graph = g.build();
    // draft_tokens first, then present.{i}.key|value
    return { ...graph, outputs: [graph.outputs[0]!, ...graph.outputs.slice(1)] };
  }

  const cut = (h: string): string => {
    if (keep === undefined) return h;
    // h[:, -n:, :]; n = 0 → start 0 → every position
    const start = g.op1('Neg', [g.op1('Unsqueeze', [keep, i64([0])])]);
    return g.op1('Slice', [h, start, i64([2 ** 62]), i64([1])]);
  };
  const { logits } = pass(inputIds, mask, positionIds, past, cut, true);
  g.output(logits, 'float32', ['batch_size', keep === undefined ? 'sequence_length' : 'logits_length', c.vocabSize], 'logits');
  const graph = g.build();
  // optimum's order: logits first, then present.{i}.key|value
  return { ...graph, outputs: [graph.outputs.at(-1)!, ...graph.outputs.slice(0, -1)] };
}

/**
 * The greedy multi-step draft graph (`greedyDraftSteps` = k) encoded as ModelProto bytes: one
 * session run drafts k argmax tokens per row. On WebGPU a draft step of a small model costs
 * about half a target step (H200: 2.1 vs 4.6 ms at batch 1), nearly all of it per-run overhead;
 * one run for k steps removes k − 1 of those overheads.
 */
export function buildGreedyDraftModel(c: LlamaConfig, k: number, opts: Omit<LlamaGraphOptions, 'greedyDraftSteps' | 'logitsToKeep' | 'kvCache' | 'weightsAs'> & { weights: WeightMap }): Uint8Array {
  return serializeModel(buildLlamaGraph(c, { ...opts, weightsAs: 'initializers', greedyDraftSteps: k }));
}

/** `buildLlamaGraph` encoded as ONNX ModelProto bytes. */
export function buildLlamaModel(c: LlamaConfig, opts: LlamaGraphOptions): Uint8Array {
  return serializeModel(buildLlamaGraph(c, opts));
}
