/**
 * The losses of losses.ts written again as plain float64 TypeScript loops over logits — the
 * independent oracle the train-step graph is checked against (with the model helper's float64
 * reference forward and finite differences for the gradients).
 */
import type { TrainBatch } from './batch.js';
import type { LossOptions } from './losses.js';

export interface ReferenceLoss {
  readonly loss: number;
  readonly diagnostics: Record<string, number>;
}

function logSoftmax(x: ArrayLike<number>, temperature: number): Float64Array {
  const z = Float64Array.from(x, (v) => v / temperature);
  let m = -Infinity;
  for (const v of z) m = Math.max(m, v);
  let s = 0;
  for (const v of z) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return z.map((v) => v - lse);
}

/**
 * Loss and diagnostics from logits [B][T] (V-vectors) — same conventions as `appendLoss`:
 * position t of the per-token arrays is scored by the logits at t − 1.
 */
export function referenceLoss(
  logits: readonly (readonly ArrayLike<number>[])[],
  batch: TrainBatch,
  opts: LossOptions,
  temperature = 1,
): ReferenceLoss {
  const B = logits.length;
  const T = logits[0]!.length;
  const V = logits[0]![0]!.length;
  const norm = opts.kind === 'grpo' ? opts.normalization : (opts.normalization ?? 'token');
  // per-token values over positions 1..T-1
  const tok = (f: (b: number, t: number, lp: Float64Array) => number): number[][] =>
    Array.from({ length: B }, (_, b) => Array.from({ length: T - 1 }, (_, j) => f(b, j + 1, logSoftmax(logits[b]![j]!, temperature))));
  const mask = batch.lossMask.map((r) => r.slice(1));
  const mean = (x: number[][], how: 'token' | 'sequence'): number => {
    if (how === 'token') {
      let s = 0;
      let n = 0;
      x.forEach((r, b) => r.forEach((v, j) => ((s += v * mask[b]![j]!), (n += mask[b]![j]!))));
      return s / Math.max(n, 1);
    }
    let s = 0;
    let seqs = 0;
    x.forEach((r, b) => {
      let rs = 0;
      let n = 0;
      r.forEach((v, j) => ((rs += v * mask[b]![j]!), (n += mask[b]![j]!)));
      const has = Math.min(n, 1);
      s += (rs / Math.max(n, 1)) * has;
      seqs += has;
    });
    return s / Math.max(seqs, 1);
  };
  const logp = tok((b, t, lp) => lp[batch.inputIds[b]![t]!]!);
  const entropy = tok((_b, _t, lp) => -lp.reduce((a, v) => a + Math.exp(v) * v, 0));
  const diagnostics: Record<string, number> = { entropy: mean(entropy, 'token'), num_valid_tokens: mask.flat().reduce((a, v) => a + v, 0) };
  if (opts.kind === 'ce') {
    const loss = -mean(logp, norm);
    return { loss, diagnostics: { ...diagnostics, nll: loss } };
  }
  if (opts.kind === 'distill') {
    const tl = batch.teacherLogits!;
    const soft = tok((b, t, lp) => {
      const pt = logSoftmax(tl.subarray((b * T + t - 1) * V, (b * T + t) * V), temperature);
      return -pt.reduce((a, v, k) => a + Math.exp(v) * lp[k]!, 0);
    });
    const loss = mean(soft, norm);
    return { loss, diagnostics: { ...diagnostics, soft_ce: loss, nll: -mean(logp, 'token') } };
  }
  const at = (rows: readonly (readonly number[])[] | undefined, name: string) => {
    if (!rows) throw new Error(`referenceLoss: batch.${name} is required for GRPO`);
    return rows.map((r) => r.slice(1));
  };
  const adv = at(batch.advantages, 'advantages');
  const old = at(batch.oldLogprobs, 'oldLogprobs');
  const gen = at(batch.genLogprobs, 'genLogprobs');
  const ratio = logp.map((r, b) => r.map((v, j) => Math.exp(v - old[b]![j]!)));
  const clip = (r: number) => Math.min(Math.max(r, 1 - opts.epsLow), 1 + opts.epsHigh);
  const isw = old.map((r, b) =>
    r.map((o, j) => {
      const w = Math.exp(o - gen[b]![j]!);
      const ok = Number.isFinite(w) ? w : 0;
      return opts.importanceSampling ? Math.min(ok, opts.importanceSampling.cap) : ok;
    }),
  );
  const pg = ratio.map((r, b) =>
    r.map((q, j) => {
      const a = adv[b]![j]!;
      let l = Math.max(-a * q, -a * clip(q));
      if (opts.dualClip !== undefined && a < 0) l = Math.min(l, -a * opts.dualClip);
      return opts.importanceSampling ? isw[b]![j]! * l : l;
    }),
  );
  const pgLoss = mean(pg, norm);
  let loss = pgLoss;
  if (opts.kl && opts.kl.coef !== 0) {
    const ref = at(batch.refLogprobs, 'refLogprobs');
    const kl = logp.map((r, b) =>
      r.map((v, j) => {
        const lr = Math.min(Math.max(ref[b]![j]! - v, -20), 20);
        return opts.kl!.type === 'k1' ? -lr : opts.kl!.type === 'k2' ? (lr * lr) / 2 : Math.exp(lr) - 1 - lr;
      }),
    );
    diagnostics['kl'] = mean(kl, norm);
    loss = pgLoss + opts.kl.coef * diagnostics['kl'];
  }
  const valid = isw.flatMap((r, b) => r.filter((_, j) => mask[b]![j]! > 0));
  Object.assign(diagnostics, {
    pg_loss: pgLoss,
    mean_ratio: mean(ratio, 'token'),
    clip_fraction: mean(ratio.map((r) => r.map((q) => (q === clip(q) ? 0 : 1))), 'token'),
    is_weight_mean: mean(isw, 'token'),
    is_weight_min: Math.min(...valid),
    is_weight_max: Math.max(...valid),
    token_mult_prob_error: mean(old.map((r, b) => r.map((o, j) => Math.exp(Math.abs(o - gen[b]![j]!)))), 'token'),
    gen_kl: mean(
      old.map((r, b) =>
        r.map((o, j) => {
          const d = o - gen[b]![j]!;
          const v = Math.exp(d) - 1 - d;
          return Number.isFinite(v) ? v : 0;
        }),
      ),
      'token',
    ),
  });
  return { loss, diagnostics };
}
