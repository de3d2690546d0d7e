import type { Draft, DraftSequence, Drafter } from './drafter.js';
import { lookupContinuation } from './drafter.js';

export interface NgramDrafterOptions {
  /** Longest n-gram tried first (default 3). */
  readonly maxN?: number;
  /** Shortest n-gram tried (default 1). */
  readonly minN?: number;
}

/**
 * N-gram / prompt-lookup drafter: no model. For each sequence it proposes the continuation of
 * the latest earlier occurrence of the sequence's last n tokens in the prompt and the text so
 * far (Saxena 2023, "prompt lookup decoding"). Tasks that copy from the prompt (copy, sort,
 * extraction, code edits) get long accepted runs for free. A point-mass drafter (`q: null`).
 *
 * 1. For n = maxN down to minN: look the last n tokens up in the sequence itself (excluding the
 *    trivial match with itself); the first n with a match proposes up to k following tokens.
 * 2. No match at any n: propose nothing (the round is a plain decode step for this sequence).
 *
 * @example
 * const drafter = new NgramDrafter({ maxN: 3 });
 * // tokens … 5 6 7 … 5 6 → proposes 7 …
 */
export class NgramDrafter implements Drafter {
  readonly name = 'ngram';
  /** A lookup, a point mass: adaptive k drafts in the shadow of k = 0 rounds (`Drafter.free`). */
  readonly free = true;
  private readonly maxN: number;
  private readonly minN: number;

  constructor(options: NgramDrafterOptions = {}) {
    this.maxN = options.maxN ?? 3;
    this.minN = options.minN ?? 1;
    if (!Number.isInteger(this.minN) || this.minN < 1 || !Number.isInteger(this.maxN) || this.maxN < this.minN) {
      throw new Error(`NgramDrafter: need integers 1 ≤ minN ≤ maxN, received minN=${this.minN}, maxN=${this.maxN}`);
    }
  }

  async propose(sequences: readonly DraftSequence[], k: number): Promise<Draft[]> {
    return sequences.map((s) => ({ tokens: this.proposeOne(s.tokens, k), q: null }));
  }

  /** The proposal for one token sequence (synchronous; exposed for tests and other drafters). */
  proposeOne(tokens: readonly number[], k: number): number[] {
    for (let n = Math.min(this.maxN, tokens.length - 1); n >= this.minN; n--) {
      const found = lookupContinuation(tokens, tokens, n, k, true);
      if (found.length > 0) return found;
    }
    return [];
  }
}
