import type { RolloutCompleted } from '../../events/index.js';
import type { Draft, DraftSequence, Drafter } from './drafter.js';
import { lookupContinuation } from './drafter.js';

export interface ReuseDrafterOptions {
  /** Rollouts kept per prompt, newest first (default 8). */
  readonly maxPerPrompt?: number;
  /** Longest n-gram for the fallback lookup after the sequence diverged (default 3). */
  readonly maxN?: number;
}

interface Stored {
  readonly requestId: string;
  readonly tokens: readonly number[];
}

/**
 * Rollout-reuse drafter (SPEC-RL, arXiv 2509.23232): in RL the same prompt is sampled again
 * and again — by the other samples of its group and at every step — and the policy moves
 * slowly, so an earlier rollout of the same prompt is a good draft. Fed with `RolloutCompleted`
 * events through `observe` (the engine feeds its own completions; a caller can replay earlier
 * steps from the event log). A point-mass drafter.
 *
 * 1. While the sequence's generated tokens are a prefix of a stored rollout of its prompt
 *    (newest first), propose that rollout's next k tokens — SPEC-RL's reuse of the old prefix.
 * 2. After it diverged from all of them, propose the continuation of the latest occurrence of
 *    its last n tokens (n = maxN … 1) in a stored rollout, newest first: rollouts of one prompt
 *    share phrases even when they do not share a prefix.
 * 3. No stored rollout or no match: propose nothing.
 *
 * @example
 * const reuse = new ReuseDrafter();
 * for (const e of await log.read({ type: 'RolloutCompleted' })) reuse.observe(e);
 */
export class ReuseDrafter implements Drafter {
  readonly name = 'reuse';
  /** A lookup, a point mass: adaptive k drafts in the shadow of k = 0 rounds (`Drafter.free`). */
  readonly free = true;
  private readonly byPrompt = new Map<string, Stored[]>();
  private readonly maxPerPrompt: number;
  private readonly maxN: number;

  constructor(options: ReuseDrafterOptions = {}) {
    this.maxPerPrompt = options.maxPerPrompt ?? 8;
    this.maxN = options.maxN ?? 3;
    if (!Number.isInteger(this.maxPerPrompt) || this.maxPerPrompt < 1) {
      throw new Error(`ReuseDrafter: maxPerPrompt must be an integer ≥ 1, received ${this.maxPerPrompt}`);
    }
  }

  observe(event: RolloutCompleted): void {
    const { promptId, requestId, tokenIds } = event.data;
    if (tokenIds.length === 0) return;
    const list = (this.byPrompt.get(promptId) ?? []).filter((s) => s.requestId !== requestId);
    list.unshift({ requestId, tokens: tokenIds });
    if (list.length > this.maxPerPrompt) list.length = this.maxPerPrompt;
    this.byPrompt.set(promptId, list);
  }

  /** Number of rollouts held for `promptId`. */
  stored(promptId: string): number {
    return this.byPrompt.get(promptId)?.length ?? 0;
  }

  async propose(sequences: readonly DraftSequence[], k: number): Promise<Draft[]> {
    return sequences.map((s) => ({ tokens: this.proposeOne(s, k), q: null }));
  }

  private proposeOne(s: DraftSequence, k: number): number[] {
    const stored = (this.byPrompt.get(s.promptId) ?? []).filter((r) => r.requestId !== s.id);
    if (stored.length === 0) return [];
    const generated = s.tokens.slice(s.promptLength);
    for (const r of stored) {
      if (r.tokens.length <= generated.length) continue;
      let prefix = true;
      for (let i = 0; i < generated.length; i++) {
        if (r.tokens[i] !== generated[i]) {
          prefix = false;
          break;
        }
      }
      if (prefix) return r.tokens.slice(generated.length, generated.length + k) as number[];
    }
    for (let n = Math.min(this.maxN, s.tokens.length); n >= 1; n--) {
      for (const r of stored) {
        const found = lookupContinuation(s.tokens, r.tokens, n, k, false);
        if (found.length > 0) return found;
      }
    }
    return [];
  }
}
