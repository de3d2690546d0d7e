/**
 * Int8 weights for CPU inference (`quantize: 'int8'` in `buildLlamaGraph`).
 *
 * Weights: symmetric, per output channel — W[o, i] ≈ q[o, i] · scale[o], q ∈ [−127, 127],
 * scale[o] = max_i |W[o, i]| / 127. Activations: symmetric, per row (one scale per token), made in
 * the graph at run time. The product is MatMulInteger (int32 accumulation, exact), so a row's
 * result never depends on the other rows of the call: a 5-position verify scores each position
 * exactly as five 1-position steps would, which speculative decoding's equality with plain
 * decoding rests on. (ONNX Runtime's DynamicQuantizeMatMul quantizes the activations with one
 * scale per tensor, which ties every row to the others: not used.) docs/cpu.md has the numbers.
 */

/** The int8 quantization modes a decoder graph can be built with. */
export const QUANTIZE_MODES = ['int8'] as const;
export type QuantizeMode = (typeof QUANTIZE_MODES)[number];

/** Parses a `--quantize` value: 'int8', or 'none' / undefined for float32 weights. */
export function parseQuantize(value: unknown, where: string): QuantizeMode | undefined {
  if (value === undefined || value === 'none') return undefined;
  if (value === 'int8') return 'int8';
  throw new Error(`${where}: quantize must be "int8" or "none", received ${JSON.stringify(value)}`);
}

/** Round half to even, as ONNX Round does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface Int8Columns {
  /** [in, out] row-major: MatMulInteger's B. */
  readonly q: Int8Array;
  /** [out] float32 per-column scales. */
  readonly scale: Float32Array;
  readonly inn: number;
  readonly out: number;
}

/**
 * Quantizes torch-layout matrices [out_j, in] (all with the same `in`), concatenated along the
 * output axis, into one transposed int8 matrix [in, Σ out_j] with a scale per output column.
 */
export function quantizeInt8Columns(mats: readonly { readonly rows: number; readonly data: Float32Array }[], inn: number): Int8Columns {
  const out = mats.reduce((a, m) => a + m.rows, 0);
  const q = new Int8Array(inn * out);
  const scale = new Float32Array(out);
  let col = 0;
  for (const m of mats) {
    if (m.data.length !== m.rows * inn) throw new Error(`quantizeInt8Columns: a matrix of ${m.data.length} values is not [${m.rows}, ${inn}]`);
    for (let o = 0; o < m.rows; o++) {
      let amax = 0;
      for (let i = 0; i < inn; i++) amax = Math.max(amax, Math.abs(m.data[o * inn + i]!));
      const s = Math.fround(amax / 127);
      scale[col + o] = s;
      if (s === 0) continue; // an all-zero column stays 0
      for (let i = 0; i < inn; i++) q[i * out + col + o] = Math.max(-127, Math.min(127, roundHalfEven(m.data[o * inn + i]! / s)));
    }
    col += m.rows;
  }
  return { q, scale, inn, out };
}
