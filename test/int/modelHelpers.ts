import type { Device } from '../../src/gpu/runtime/Decoder.js';

/** The device the model tests run on: SPECSTREAM_TEST_DEVICE=webgpu on the GPU machine. */
export const testDevice: Device = process.env['SPECSTREAM_TEST_DEVICE'] === 'webgpu' ? 'webgpu' : 'cpu';

/**
 * Relative tolerance of ORT (fp32) vs the float64 reference: max |a − b| / max |b|.
 * 1e-4 on CPU (the bound); WebGPU's fp32 kernels are checked against SPECSTREAM_TEST_TOL
 * when set (default 1e-4 too), and every test logs the error it measured.
 */
export const tolerance = Number(process.env['SPECSTREAM_TEST_TOL'] ?? 1e-4);

/** max |a − b| / max |b| over the two arrays. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths differ (${a.length} vs ${b.length})`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / (den || 1);
}

/** The V logits at [b, t] of a [B, T, V] array. */
export const logitsAt = (logits: Float32Array, dims: readonly number[], b: number, t: number): Float32Array => {
  const [, T, V] = dims as [number, number, number];
  return logits.subarray((b * T + t) * V, (b * T + t + 1) * V);
};

/** Largest error seen per test, printed at the end so the GPU run can quote it. */
export const measured: Record<string, number> = {};
export const note = (key: string, err: number) => {
  measured[key] = Math.max(measured[key] ?? 0, err);
};
