/** A dense float32 tensor in row-major order: the unit of model weights in specstream. */
export interface F32Tensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** Weights by Hugging Face tensor name (e.g. `model.layers.0.self_attn.q_proj.weight`). */
export type WeightMap = ReadonlyMap<string, F32Tensor>;

/** Product of dims. */
export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
