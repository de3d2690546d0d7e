import { Xoshiro128 } from '../sampling/rng.js';
import { AdaptiveK, type AdaptiveKOptions } from './adaptiveK.js';

/**
 * A seeded simulation of adaptive k with a draft model at one row on a CPU (bench spec's pair):
 * a round costs verify(k) + draft(k) + 0.1 plain rounds, ±5%, 2–4× in one round of 50 (another
 * process on the cores); a switch in catches up on the tokens missed at 0.02 plain rounds each;
 * a new sequence every 130 rounds; acceptance per position `alpha`, drawn per round. Used by
 * `adaptiveK.unit.spec.ts` and `scripts/experiments/adaptive-sim.mjs`.
 */
export const SIM_VERIFY = [1, 1.1, 1.2, 1.32, 1.45, 1.55, 1.7] as const;
export const SIM_DRAFT = [0, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05] as const;

export interface RowSimulation {
  /** Speedup over plain decoding (a token per round of mean noise 1.04). */
  speedup: number;
  /** The k of every round. */
  ks: number[];
}

/** One seed's 600 rounds; `fixedK` overrides adaptive k's choice (the fixed-k reference). */
export function simulateRow(alpha: number, seed: number, options: Partial<AdaptiveKOptions> = {}, fixedK?: number): RowSimulation {
  const rng = new Xoshiro128(100 + seed);
  const ak = new AdaptiveK({ kMax: 6, ...options });
  ak.observeVerifyCurve(1, SIM_VERIFY);
  ak.observeDraftCurve(1, SIM_DRAFT);
  let [seconds, tokens, last, missed] = [0, 0, 0, 0];
  const ks: number[] = [];
  for (let r = 0; r < 600; r++) {
    const id = `s${Math.floor(r / 130)}`;
    const chosen = ak.choose(1, missed, { lengths: [20 + (r % 130)], remaining: [130 - (r % 130)], ids: [id] });
    const k = fixedK ?? chosen;
    let accepted = 0;
    while (accepted < k && rng.next() < alpha) accepted++;
    const noise = (0.95 + 0.1 * rng.next()) * (rng.next() < 0.02 ? 2 + 2 * rng.next() : 1);
    const s = noise * (SIM_VERIFY[k]! + SIM_DRAFT[k]! + (k > 0 ? 0.1 : 0)) + (k > 0 && last === 0 ? 0.02 * missed : 0);
    if (k > 0) ak.observeAcceptance(k, accepted, k, id);
    ak.observeRound({ batchSize: 1, k, tokensPerRow: accepted + 1, seconds: s, ...(k > 0 ? { catchUp: missed } : {}) });
    missed = k > 0 ? 0 : missed + 1;
    [seconds, tokens, last] = [seconds + s, tokens + accepted + 1, k];
    ks.push(k);
  }
  return { speedup: (tokens * (0.98 + 0.02 * 3)) / seconds, ks };
}

/** The mean speedup over seeds 0 … seeds − 1. */
export function meanRowSpeedup(alpha: number, seeds: number, options: Partial<AdaptiveKOptions> = {}): number {
  let sum = 0;
  for (let seed = 0; seed < seeds; seed++) sum += simulateRow(alpha, seed, options).speedup;
  return sum / seeds;
}
