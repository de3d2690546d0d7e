import type { LlamaConfig } from './config.js';
import type { WeightMap } from '../weights/tensor.js';
import { EMBED, FINAL_NORM, LM_HEAD, layerNames } from './llamaWeights.js';

/**
 * A float64 TypeScript forward pass of the same decoder the graph builder emits — the oracle the
 * ONNX graphs are tested against. Plain loops, no tricks; shapes in comments.
 *
 * KV-cache semantics match the graph: `cache.k[layer][b][h]` is a list of D-vectors (one per
 * cache slot, rotated keys), new slots are appended, and query t of a call with past length P
 * attends to slot j iff j ≤ P + t and attentionMask[b][j] = 1.
 */
export interface RefCache {
  /** [L][B][Hkv][S][D] */
  readonly k: Float64Array[][][][];
  readonly v: Float64Array[][][][];
}

export function emptyRefCache(c: LlamaConfig, batch: number): RefCache {
  const mk = () => Array.from({ length: c.numLayers }, () => Array.from({ length: batch }, () => Array.from({ length: c.numKvHeads }, () => [] as Float64Array[])));
  return { k: mk(), v: mk() };
}

/**
 * Runs the model on `inputIds` [B][T] with explicit `positionIds` [B][T] and `attentionMask`
 * [B][P+T]; appends to `cache` (mutated) and returns logits [B][T] of V-vectors.
 */
export function referenceForward(
  c: LlamaConfig,
  w: WeightMap,
  inputIds: readonly (readonly number[])[],
  positionIds: readonly (readonly number[])[],
  attentionMask: readonly (readonly number[])[],
  cache: RefCache = emptyRefCache(c, inputIds.length),
): Float64Array[][] {
  const B = inputIds.length;
  const T = inputIds[0]!.length;
  const H = c.hiddenSize;
  const D = c.headDim;
  const rep = c.numHeads / c.numKvHeads;
  const get = (name: string) => {
    const t = w.get(name);
    if (!t) throw new Error(`reference: missing weight ${name}`);
    return t.data;
  };
  // y[o] = Σ_i W[o, i] x[i] (+ b[o]); W is torch layout [out, in]
  const linear = (x: Float64Array, W: Float32Array, out: number, b?: Float32Array): Float64Array => {
    const inn = x.length;
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inn; i++) s += W[o * inn + i]! * x[i]!;
      y[o] = s;
    }
    return y;
  };
  const rmsNorm = (x: Float64Array, wn: Float32Array): Float64Array => {
    let ms = 0;
    for (const v of x) ms += v * v;
    const r = Math.sqrt(ms / x.length + c.rmsNormEps);
    return x.map((v, i) => (v / r) * wn[i]!);
  };
  const rope = (x: Float64Array, pos: number): Float64Array => {
    const out = new Float64Array(D);
    for (let i = 0; i < D / 2; i++) {
      const ang = pos / c.ropeTheta ** ((2 * i) / D);
      const cs = Math.cos(ang);
      const sn = Math.sin(ang);
      out[i] = x[i]! * cs - x[i + D / 2]! * sn;
      out[i + D / 2] = x[i + D / 2]! * cs + x[i]! * sn;
    }
    return out;
  };

  const emb = get(EMBED);
  // hidden[b][t] : H-vector
  const hidden: Float64Array[][] = inputIds.map((row) => row.map((id) => Float64Array.from(emb.subarray(id * H, (id + 1) * H))));
  for (let l = 0; l < c.numLayers; l++) {
    const n = layerNames(l);
    const bias = (name: string) => (c.attentionBias ? get(name) : undefined);
    for (let b = 0; b < B; b++) {
      const P = cache.k[l]![b]![0]!.length;
      const qs: Float64Array[][] = []; // [T][Hq] D-vectors
      for (let t = 0; t < T; t++) {
        const x = rmsNorm(hidden[b]![t]!, get(n.inputNorm));
        const q = linear(x, get(n.q), c.numHeads * D, bias(n.qBias));
        const k = linear(x, get(n.k), c.numKvHeads * D, bias(n.kBias));
        const v = linear(x, get(n.v), c.numKvHeads * D, bias(n.vBias));
        const pos = positionIds[b]![t]!;
        qs.push(Array.from({ length: c.numHeads }, (_, h) => rope(q.subarray(h * D, (h + 1) * D), pos)));
        for (let h = 0; h < c.numKvHeads; h++) {
          cache.k[l]![b]![h]!.push(rope(k.subarray(h * D, (h + 1) * D), pos));
          cache.v[l]![b]![h]!.push(Float64Array.from(v.subarray(h * D, (h + 1) * D)));
        }
      }
      for (let t = 0; t < T; t++) {
        const ctx = new Float64Array(c.numHeads * D);
        for (let h = 0; h < c.numHeads; h++) {
          const keys = cache.k[l]![b]![Math.floor(h / rep)]!;
          const vals = cache.v[l]![b]![Math.floor(h / rep)]!;
          const scores: number[] = [];
          const slots: number[] = [];
          for (let j = 0; j <= P + t; j++) {
            if (attentionMask[b]![j] !== 1) continue;
            let s = 0;
            for (let d = 0; d < D; d++) s += qs[t]![h]![d]! * keys[j]![d]!;
            scores.push(s / Math.sqrt(D));
            slots.push(j);
          }
          const m = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - m));
          const z = e.reduce((a, x) => a + x, 0);
          slots.forEach((j, idx) => {
            for (let d = 0; d < D; d++) ctx[h * D + d]! += (e[idx]! / z) * vals[j]![d]!;
          });
        }
        const attn = linear(ctx, get(n.o), H);
        const h1 = hidden[b]![t]!.map((v, i) => v + attn[i]!);
        const y = rmsNorm(h1, get(n.postNorm));
        const gate = linear(y, get(n.gate), c.intermediateSize);
        const up = linear(y, get(n.up), c.intermediateSize);
        const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
        const down = linear(act, get(n.down), H);
        hidden[b]![t] = h1.map((v, i) => v + down[i]!);
      }
    }
  }
  const head = get(c.tieWordEmbeddings ? EMBED : LM_HEAD);
  return hidden.map((row) => row.map((x) => linear(rmsNorm(x, get(FINAL_NORM)), head, c.vocabSize)));
}
