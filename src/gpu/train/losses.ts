/**
 * Losses as graph fragments appended to a model graph: token cross-entropy, soft cross-entropy
 * against teacher logits (distillation), and the GRPO clipped surrogate of REFERENCE.md with
 * KL penalty and importance-sampling correction, plus their diagnostics.
 *
 * Conventions (as NeMo-RL): per-token batch arrays are [B, T] and aligned with `input_ids`:
 * entry t belongs to token t, predicted by the logits at position t − 1; entry 0 is never used.
 * The fragment therefore works on positions 1..T−1 ([B, T−1]). Log-probabilities are those of
 * the sampling distribution: log_softmax(logits / temperature).
 */
import type { DType, GraphBuilder } from '../graph/ir.js';
import { attr } from '../graph/ir.js';
import { ONNX_TYPE, floatArray } from '../autodiff/emit.js';

export type KlType = 'k1' | 'k2' | 'k3';

export interface GrpoLossOptions {
  readonly kind: 'grpo';
  /** Ratio clip: [1 − epsLow, 1 + epsHigh] (NeMo-RL default 0.2 / 0.2). */
  readonly epsLow: number;
  readonly epsHigh: number;
  /** Dual clip constant c > 1 for negative advantages (off when undefined). */
  readonly dualClip?: number;
  /** 'token': mean over all valid tokens of the batch; 'sequence': mean of per-sequence means. */
  readonly normalization: 'token' | 'sequence';
  /** KL penalty to the reference policy (needs `ref_logprobs`); off when undefined or coef 0. */
  readonly kl?: { readonly type: KlType; readonly coef: number };
  /** Importance-sampling correction exp(old − gen), truncated at `cap`; off when undefined. */
  readonly importanceSampling?: { readonly cap: number };
}
export type LossOptions =
  | { readonly kind: 'ce'; readonly normalization?: 'token' | 'sequence' }
  | { readonly kind: 'distill'; readonly normalization?: 'token' | 'sequence' }
  | GrpoLossOptions;

/** Names of the batch inputs a loss adds to the graph. */
export const BATCH = {
  lossMask: 'loss_mask',
  advantages: 'advantages',
  oldLogprobs: 'old_logprobs',
  genLogprobs: 'gen_logprobs',
  refLogprobs: 'ref_logprobs',
  teacherLogits: 'teacher_logits',
} as const;

export interface LossFragment {
  /** The scalar loss value. */
  readonly loss: string;
  /** Diagnostic name → scalar value (graph outputs named `diag.<name>` by the caller). */
  readonly diagnostics: ReadonlyMap<string, string>;
}

/** Helpers bound to one builder and float dtype. */
class Ops {
  private n = 0;
  constructor(
    readonly g: GraphBuilder,
    readonly dt: DType,
  ) {}
  op(type: string, inputs: readonly string[], attrs: Record<string, ReturnType<typeof attr.int>> = {}): string {
    return this.g.op1(type, inputs, attrs);
  }
  c(v: number): string {
    return this.g.initializer(`loss/const_${this.n++}`, this.dt, [], floatArray(this.dt, [v]));
  }
  i64(v: readonly number[], dims: readonly number[] = [v.length]): string {
    return this.g.constInt64(v, dims);
  }
  sum(x: string, axes: readonly number[], keep = 0): string {
    return this.op('ReduceSum', [x, this.i64(axes)], { keepdims: attr.int(keep) });
  }
  toFloat(x: string): string {
    return this.op('Cast', [x], { to: attr.int(ONNX_TYPE[this.dt]) });
  }
  /** x[:, 1:] of a [B, T] tensor. */
  tail(x: string): string {
    return this.op('Slice', [x, this.i64([1]), this.i64([Number.MAX_SAFE_INTEGER]), this.i64([1])]);
  }
  /** Masked mean with the chosen normalisation; an all-masked batch gives 0, not NaN. */
  mean(x: string, m: string, norm: 'token' | 'sequence'): string {
    const xm = this.op('Mul', [x, m]);
    if (norm === 'token') return this.op('Div', [this.sum(xm, [0, 1]), this.op('Max', [this.sum(m, [0, 1]), this.c(1)])]);
    const count = this.sum(m, [1]); // [B]
    const seq = this.op('Div', [this.sum(xm, [1]), this.op('Max', [count, this.c(1)])]);
    const has = this.op('Min', [count, this.c(1)]);
    return this.op('Div', [this.sum(this.op('Mul', [seq, has]), [0]), this.op('Max', [this.sum(has, [0]), this.c(1)])]);
  }
}

export interface LossContext {
  readonly g: GraphBuilder;
  readonly dtype: DType;
  /** [B, T, V] logits of the model. */
  readonly logits: string;
  /** [B, T] int64 token ids. */
  readonly inputIds: string;
  readonly batch: number;
  readonly seqLen: number;
  readonly vocab: number;
  /** Sampling temperature (> 0); 1 for greedy / raw logits. */
  readonly temperature: number;
  /** Whether `ref_logprobs` is a graph input (the KL term needs it). */
  readonly hasReference?: boolean;
}

/**
 * Appends the loss to `ctx.g`, declaring its batch inputs (`loss_mask`, and per kind
 * `advantages`, `old_logprobs`, `gen_logprobs`, `ref_logprobs`, `teacher_logits`).
 *
 * 1. logp_all = log_softmax(logits[:, :T−1] / temperature)           [B, T−1, V]
 * 2. logp = Σ_v logp_all · onehot(input_ids[:, 1:])                    [B, T−1]
 * 3. the kind's per-token loss, masked mean with the normalisation; diagnostics.
 */
export function appendLoss(ctx: LossContext, opts: LossOptions): LossFragment {
  if (!(ctx.temperature > 0)) throw new Error(`loss: temperature must be > 0; got ${ctx.temperature}`);
  const o = new Ops(ctx.g, ctx.dtype);
  const { g, batch: B, seqLen: T, vocab: V } = ctx;
  if (T < 2) throw new Error(`loss: sequence length must be ≥ 2 (a token and its successor); got ${T}`);
  const perToken = (name: string) => g.input(name, ctx.dtype, [B, T]);
  const mask = o.tail(perToken(BATCH.lossMask)); // [B, T-1]
  const head = o.op('Slice', [ctx.logits, o.i64([0]), o.i64([T - 1]), o.i64([1])]); // [B, T-1, V]
  const scaled = ctx.temperature === 1 ? head : o.op('Div', [head, o.c(ctx.temperature)]);
  const logpAll = o.op('LogSoftmax', [scaled], { axis: attr.int(-1) }); // [B, T-1, V]
  const targets = o.op('Unsqueeze', [o.tail(ctx.inputIds), o.i64([2])]); // [B, T-1, 1]
  const vocabRange = o.i64(Array.from({ length: V }, (_, i) => i)); // [V]
  const onehot = o.toFloat(o.op('Equal', [targets, vocabRange])); // [B, T-1, V]
  const logp = o.sum(o.op('Mul', [logpAll, onehot]), [2]); // [B, T-1]
  const diagnostics = new Map<string, string>();
  // entropy of the sampling distribution, −Σ p log p
  const entropy = o.op('Neg', [o.sum(o.op('Mul', [o.op('Exp', [logpAll]), logpAll]), [2])]);
  diagnostics.set('entropy', o.mean(entropy, mask, 'token'));
  diagnostics.set('num_valid_tokens', o.sum(mask, [0, 1]));

  if (opts.kind === 'ce') {
    const loss = o.op('Neg', [o.mean(logp, mask, opts.normalization ?? 'token')]);
    diagnostics.set('nll', loss);
    return { loss, diagnostics };
  }
  if (opts.kind === 'distill') {
    const teacher = g.input(BATCH.teacherLogits, ctx.dtype, [B, T, V]);
    const th = o.op('Slice', [teacher, o.i64([0]), o.i64([T - 1]), o.i64([1])]);
    const ts = ctx.temperature === 1 ? th : o.op('Div', [th, o.c(ctx.temperature)]);
    const pT = o.op('Softmax', [ts], { axis: attr.int(-1) });
    const soft = o.op('Neg', [o.sum(o.op('Mul', [pT, logpAll]), [2])]); // [B, T-1]
    const loss = o.mean(soft, mask, opts.normalization ?? 'token');
    diagnostics.set('soft_ce', loss);
    diagnostics.set('nll', o.op('Neg', [o.mean(logp, mask, 'token')]));
    return { loss, diagnostics };
  }
  return grpo(o, ctx, opts, { logp, mask, perToken, diagnostics });
}

function grpo(
  o: Ops,
  ctx: LossContext,
  opts: GrpoLossOptions,
  s: { logp: string; mask: string; perToken: (n: string) => string; diagnostics: Map<string, string> },
): LossFragment {
  const { logp, mask, diagnostics } = s;
  const adv = o.tail(s.perToken(BATCH.advantages));
  const old = o.tail(s.perToken(BATCH.oldLogprobs));
  const gen = o.tail(s.perToken(BATCH.genLogprobs));
  const ratio = o.op('Exp', [o.op('Sub', [logp, old])]);
  const clipped = o.op('Clip', [ratio, o.c(1 - opts.epsLow), o.c(1 + opts.epsHigh)]);
  const negAdv = o.op('Neg', [adv]);
  let pg = o.op('Max', [o.op('Mul', [negAdv, ratio]), o.op('Mul', [negAdv, clipped])]);
  if (opts.dualClip !== undefined) {
    if (!(opts.dualClip > 1)) throw new Error(`grpo loss: dualClip must be > 1; got ${opts.dualClip}`);
    const bound = o.op('Mul', [negAdv, o.c(opts.dualClip)]);
    pg = o.op('Where', [o.op('Less', [adv, o.c(0)]), o.op('Min', [pg, bound]), pg]);
  }
  // importance weights exp(old − gen): NaN/±inf → 0, truncated at the cap (no gradient: inputs only)
  const diff = o.op('Sub', [old, gen]);
  const raw = o.op('Exp', [diff]);
  const bad = o.op('Or', [o.op('IsNaN', [raw]), o.op('IsInf', [raw])]);
  let isw = o.op('Where', [bad, o.c(0), raw]);
  if (opts.importanceSampling) isw = o.op('Min', [isw, o.c(opts.importanceSampling.cap)]);
  const pgWeighted = opts.importanceSampling ? o.op('Mul', [isw, pg]) : pg;
  const pgLoss = o.mean(pgWeighted, mask, opts.normalization);
  let loss = pgLoss;
  if (opts.kl && opts.kl.coef !== 0) {
    const ref = o.tail(s.perToken(BATCH.refLogprobs));
    const logr = o.op('Clip', [o.op('Sub', [ref, logp]), o.c(-20), o.c(20)]);
    const kl =
      opts.kl.type === 'k1'
        ? o.op('Neg', [logr])
        : opts.kl.type === 'k2'
          ? o.op('Mul', [o.op('Mul', [logr, logr]), o.c(0.5)])
          : o.op('Sub', [o.op('Sub', [o.op('Exp', [logr]), o.c(1)]), logr]);
    const klMean = o.mean(kl, mask, opts.normalization);
    diagnostics.set('kl', klMean);
    loss = o.op('Add', [pgLoss, o.op('Mul', [klMean, o.c(opts.kl.coef)])]);
  }
  diagnostics.set('pg_loss', pgLoss);
  diagnostics.set('mean_ratio', o.mean(ratio, mask, 'token'));
  const outside = o.toFloat(o.op('Not', [o.op('Equal', [ratio, clipped])]));
  diagnostics.set('clip_fraction', o.mean(outside, mask, 'token'));
  const valid = o.op('Greater', [mask, o.c(0)]);
  diagnostics.set('is_weight_mean', o.mean(isw, mask, 'token'));
  diagnostics.set('is_weight_min', o.op('ReduceMin', [o.op('Where', [valid, isw, o.c(1e30)])], { keepdims: attr.int(0) }));
  diagnostics.set('is_weight_max', o.op('ReduceMax', [o.op('Where', [valid, isw, o.c(-1e30)])], { keepdims: attr.int(0) }));
  diagnostics.set('token_mult_prob_error', o.mean(o.op('Exp', [o.op('Abs', [diff])]), mask, 'token'));
  // KL(gen ‖ policy_old) by the k3 estimator on tokens sampled from gen: r = p_old / p_gen
  const genKl = o.op('Sub', [o.op('Sub', [raw, o.c(1)]), diff]);
  diagnostics.set('gen_kl', o.mean(o.op('Where', [bad, o.c(0), genKl]), mask, 'token'));
  return { loss, diagnostics };
}
