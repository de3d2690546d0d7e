/**
 * AdamW (Loshchilov & Hutter) with bias correction and decoupled weight decay, and global-norm
 * gradient clipping, on Float32Arrays in TypeScript. The update is memory-bound (a few passes
 * over 4 arrays), so a plain loop is as fast as an ORT graph on the CPU and avoids copying the
 * weights in and out of a session; `npm run bench -- train` reports its share of a step.
 */
export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
  /** Which tensors get weight decay; default: those of rank ≥ 2 (not norms or biases). */
  readonly decay?: (name: string, dims: readonly number[]) => boolean;
}

export interface Param {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** The square root of the sum of squares of all gradients (float64 accumulation). */
export function globalNorm(grads: Iterable<ArrayLike<number>>): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  return Math.sqrt(s);
}

/**
 * The factor that brings the global norm down to `maxNorm` (1 when already below), as
 * torch.nn.utils.clip_grad_norm_: maxNorm / (norm + 1e-6), at most 1.
 */
export function clipCoefficient(norm: number, maxNorm: number | undefined): number {
  if (maxNorm === undefined) return 1;
  if (!Number.isFinite(norm)) throw new Error(`gradient clipping: the global gradient norm is ${norm}; refusing to apply the update`);
  return Math.min(1, maxNorm / (norm + 1e-6));
}

export class AdamW {
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  /** Number of updates applied (the bias-correction exponent). */
  step = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly decay: (name: string, dims: readonly number[]) => boolean;

  constructor(opts: AdamWOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.decay = opts.decay ?? ((_n, dims) => dims.length >= 2);
    for (const [k, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`AdamW: ${k} must be in [0, 1); got ${b}`);
    }
  }

  /**
   * One update of every parameter in place, torch.optim.AdamW's order of operations:
   * 1. p ← p·(1 − lr·wd) (decoupled decay, for tensors selected by `decay`);
   * 2. m ← β₁m + (1 − β₁)g·s, v ← β₂v + (1 − β₂)(g·s)² with the clip scale s;
   * 3. p ← p − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε).
   */
  update(params: ReadonlyMap<string, Param>, grads: ReadonlyMap<string, ArrayLike<number>>, lr: number, gradScale = 1): void {
    this.step += 1;
    const bc1 = 1 - this.beta1 ** this.step;
    const bc2 = Math.sqrt(1 - this.beta2 ** this.step);
    const stepSize = lr / bc1;
    const { beta1: b1, beta2: b2, eps } = this;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) throw new Error(`AdamW: no gradient for parameter ${name}`);
      if (g.length !== p.data.length) throw new Error(`AdamW: gradient of ${name} has ${g.length} values, parameter has ${p.data.length}`);
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.data.length);
        v = new Float32Array(p.data.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      const keep = this.decay(name, p.dims) ? 1 - lr * this.weightDecay : 1;
      const w = p.data;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]! * gradScale;
        const mi = b1 * m[i]! + (1 - b1) * gi;
        const vi = b2 * v[i]! + (1 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i]! * keep - (stepSize * mi) / (Math.sqrt(vi) / bc2 + eps);
      }
    }
  }

  /** Restores state saved by `state()` (a resumed run continues bit for bit). */
  restore(s: { step: number; m: ReadonlyMap<string, Float32Array>; v: ReadonlyMap<string, Float32Array> }): void {
    this.step = s.step;
    this.m.clear();
    this.v.clear();
    for (const [k, a] of s.m) this.m.set(k, Float32Array.from(a));
    for (const [k, a] of s.v) this.v.set(k, Float32Array.from(a));
  }

  /** Optimizer state for checkpoints (moments by parameter name). */
  state(): { step: number; m: ReadonlyMap<string, Float32Array>; v: ReadonlyMap<string, Float32Array> } {
    return { step: this.step, m: this.m, v: this.v };
  }
}
