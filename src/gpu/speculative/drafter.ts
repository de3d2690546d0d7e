import type { RolloutCompleted, SamplingParams } from '../../events/index.js';
import type { Rng } from '../sampling/rng.js';
import type { Decoder, ForwardInput, KvCache } from '../runtime/Decoder.js';
import type { RoundDecoder } from '../runtime/roundDecoder.js';

/** A sequence the engine asks a drafter to extend. */
export interface DraftSequence {
  /** Stable id of the sequence (the rollout's `requestId`). */
  readonly id: string;
  readonly promptId: string;
  readonly groupIndex: number;
  /** Prompt followed by every token generated so far (all verified by the target). */
  readonly tokens: readonly number[];
  /** How many of `tokens` are the prompt. */
  readonly promptLength: number;
  readonly sampling: SamplingParams;
  /**
   * The sequence's own seeded RNG. A drafter that samples (a draft model at temperature > 0)
   * draws from it and from nothing else, so a sequence's output does not depend on its batch.
   */
  readonly rng: Rng;
}

/** A drafter's proposal for one sequence. */
export interface Draft {
  /** Up to k proposed tokens (fewer, even none, when the drafter has nothing to say). */
  readonly tokens: readonly number[];
  /**
   * The processed draft distribution each token was sampled from (same temperature / top-k /
   * top-p as the target), one row per token; `null` for a drafter without probabilities: the
   * acceptance rule then treats the draft as a point mass (REFERENCE.md).
   */
  readonly q: ReadonlyArray<Float32Array | Float64Array> | null;
}

/**
 * The draft half of a joint round (`Drafter.stageRound`): the draft model's inputs and cache,
 * laid out for `rounds.round`, which drafts and verifies in one session run.
 */
export interface StagedRound {
  readonly rounds: RoundDecoder;
  readonly input: ForwardInput;
  readonly cache: KvCache;
  /** Takes the run's drafts [B][k] and draft cache back; returns each sequence's `Draft`. */
  finish(drafts: readonly (readonly number[])[], cache: KvCache): Draft[];
}

/** What one verification round did to a sequence, as told to the drafter. */
export interface VerifiedRound {
  /** Draft tokens accepted (a prefix of the proposal). */
  readonly accepted: number;
  /** Tokens appended to the sequence: the accepted drafts then one target token. */
  readonly emitted: readonly number[];
}

/**
 * A source of draft tokens for speculative decoding. One round for a batch:
 * `propose` → (the target verifies) → `verified` per sequence. A sequence is announced by
 * `prepare` when it joins (and must also be accepted by `propose` without it) and leaves
 * through `release`.
 *
 * The engine never assumes anything about a drafter's state: `DraftSequence.tokens` is always
 * the whole verified sequence, so a stateless drafter (n-gram) can ignore the hooks, and a
 * stateful one (a draft model with its own KV cache) uses `verified` to drop the rejected
 * suffix of its cache and `release` to free a finished sequence's rows.
 */
export interface Drafter {
  /** Name written into `DraftVerified.drafter` (`model`, `ngram`, `reuse`, or a plug-in's). */
  readonly name: string;
  /**
   * Proposing costs next to nothing (no model: a lookup) and `propose` changes no state, and
   * every proposal is a point mass (`q: null`). With adaptive k the engine then also asks the
   * drafter during k = 0 rounds and compares the proposal with the tokens plain decoding emits
   * (*shadow drafting*): for a point mass the chance that plain decoding emits the drafted token
   * is exactly the chance the acceptance rule accepts it, so acceptance stays measured while
   * speculation is off, without probing rounds. Leave it unset for a drafter that runs a model.
   */
  readonly free?: boolean;
  /**
   * Called once before the first round with the target's vocabulary size: a drafter whose
   * tokens cannot be the target's (a draft model with another vocabulary) throws here, naming
   * both sizes, instead of proposing garbage later. `kMax` (the longest draft the engine may
   * ask for), `ks` (the draft lengths it may ask for: [k] for a fixed k, else 1 … kMax) and
   * `maxBatchSize` (the most sequences per round) let a drafter open and warm up what it will
   * run, before any measured round.
   */
  attach?(target: { readonly vocabSize: number; readonly name: string; readonly kMax?: number; readonly ks?: readonly number[]; readonly maxBatchSize?: number }): void | Promise<void>;
  /**
   * Sequences that just joined the batch, before their first round: a stateful drafter
   * prefills them here, so the per-round draft cost (which adaptive k measures) stays the cost
   * of drafting.
   */
  prepare?(sequences: readonly DraftSequence[]): Promise<void>;
  /**
   * Proposes up to `k` tokens for each sequence (k ≥ 1; the engine skips the drafter when the
   * round's k is 0). Returns one `Draft` per sequence, in order.
   */
  propose(sequences: readonly DraftSequence[], k: number): Promise<Draft[]>;
  /**
   * Seconds one `propose` of k tokens takes for `rows` sequences, k = 0 … `kMax` (0 at k = 0),
   * measured on sequences of the drafter's own making before the first round (each call once,
   * like `attach`). A drafter whose cost grows with k (a model) tells adaptive k here what a
   * draft length costs before any round ran it (`AdaptiveK.observeDraftCurve`): a draft call's
   * fixed cost makes the line through k = 0 and k = 1 a poor guess for k = 4. Optional.
   */
  measureCost?(rows: number, kMax: number): Promise<readonly number[]>;
  /**
   * Optional, instead of `propose`: the draft half of a round whose drafting and verification
   * run as ONE session (`RoundDecoder`, a draft model with greedy drafts). Returns null when
   * this round cannot (sampled drafts, another target); the engine then calls `propose`. The
   * sequences' order is the order of the target's cache rows, and every sequence gets exactly
   * k drafts (the engine cuts them as it cuts proposals).
   */
  stageRound?(sequences: readonly DraftSequence[], k: number, target: Decoder): Promise<StagedRound | null>;
  /** The target's verdict on the last proposal for sequence `id`. */
  verified?(id: string, round: VerifiedRound): void;
  /** Sequence `id` finished or was dropped; free whatever the drafter holds for it. */
  release?(id: string): void | Promise<void>;
  /** A rollout finished (this worker's or, fed from the event log, any earlier one). */
  observe?(event: RolloutCompleted): void;
  /** Frees sessions and caches. */
  dispose?(): Promise<void>;
}

/**
 * The continuation of the latest occurrence of `tokens`' last `n` tokens inside `haystack`
 * (prompt lookup): the up to `k` tokens after the match. `excludeTail` stops the search from
 * matching the suffix against itself when `haystack` is `tokens`. Returns [] without a match.
 *
 * 1. key = the last n tokens of `tokens`.
 * 2. Scan start positions from the latest possible one backwards; the first full match wins
 *    (the most recent context is the most likely to repeat).
 * 3. Return haystack[start + n, start + n + k) (possibly shorter near the end).
 */
export function lookupContinuation(
  tokens: readonly number[],
  haystack: readonly number[],
  n: number,
  k: number,
  excludeTail: boolean,
): number[] {
  if (n < 1 || tokens.length < n) return [];
  const keyStart = tokens.length - n;
  const lastStart = haystack.length - n - (excludeTail ? 1 : 0);
  for (let start = lastStart; start >= 0; start--) {
    let match = true;
    for (let j = 0; j < n; j++) {
      if (haystack[start + j] !== tokens[keyStart + j]) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    const from = start + n;
    if (from >= haystack.length) continue;
    return haystack.slice(from, from + k) as number[];
  }
  return [];
}
