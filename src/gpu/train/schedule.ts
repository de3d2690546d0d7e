/**
 * Learning-rate schedules: a pure function of the step number (0-based), so a replayed run
 * recomputes the same rates.
 */
export type LrSchedule =
  | { readonly kind: 'constant'; readonly lr: number }
  | {
      readonly kind: 'cosine';
      /** Peak rate, reached at the end of warm-up. */
      readonly lr: number;
      /** Linear warm-up steps (lr·(step+1)/warmup). */
      readonly warmupSteps: number;
      /** Total steps; after it the rate stays at `minLr`. */
      readonly totalSteps: number;
      readonly minLr?: number;
    };

/**
 * The learning rate at `step`.
 *
 * constant: lr. cosine: linear warm-up lr·(step+1)/warmup for step < warmup, then
 * minLr + (lr − minLr)·½(1 + cos(π·p)) with p = (step − warmup)/(total − warmup) clamped to [0, 1].
 */
export function learningRate(s: LrSchedule, step: number): number {
  if (!Number.isInteger(step) || step < 0) throw new Error(`learningRate: step must be a non-negative integer; got ${step}`);
  if (s.kind === 'constant') return s.lr;
  if (s.warmupSteps < 0 || s.totalSteps <= s.warmupSteps) {
    throw new Error(`cosine schedule: need 0 ≤ warmupSteps < totalSteps; got warmupSteps ${s.warmupSteps}, totalSteps ${s.totalSteps}`);
  }
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const min = s.minLr ?? 0;
  const p = Math.min(1, (step - s.warmupSteps) / (s.totalSteps - s.warmupSteps));
  return min + (s.lr - min) * 0.5 * (1 + Math.cos(Math.PI * p));
}
