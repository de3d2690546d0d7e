import type { AdvantagesComputed, RolloutCompleted, RolloutRequested } from '../../events/index.js';

/** A GRPO batch in the trainer's [B, T] layout (see src/gpu/train/batch.ts). */
export interface GrpoBatch {
  readonly inputIds: number[][];
  readonly attentionMask: number[][];
  readonly lossMask: number[][];
  readonly advantages: number[][];
  readonly genLogprobs: number[][];
}

/**
 * Lays out a step's rollouts as the train-step graph's fixed [B, T] batch.
 *
 * 1. One row per request, in request order: prompt tokens, then generated tokens, right-padded
 *    with `padId` to `seqLen` (attention 0 on padding).
 * 2. `lossMask` is 1 on generated tokens only; each generated token carries its sequence's
 *    advantage and its generation logprob (entries align with the token they score).
 * 3. Rows beyond the requests (the graph's B is fixed) are all-padding with loss mask 0.
 * Throws, naming the request, when a sequence does not fit `seqLen`.
 */
export function buildGrpoBatch(
  requests: readonly RolloutRequested[],
  completed: ReadonlyMap<string, RolloutCompleted>,
  advantages: readonly AdvantagesComputed[],
  shape: { batch: number; seqLen: number; padId: number },
): GrpoBatch {
  const advOf = new Map<string, number>();
  for (const e of advantages) for (const a of e.data.advantages) advOf.set(a.requestId, a.advantage);
  if (requests.length > shape.batch) {
    throw new Error(`train batch: ${requests.length} rollouts but the train-step graph holds ${shape.batch}`);
  }
  const rows = (fill: number) => Array.from({ length: shape.batch }, () => new Array<number>(shape.seqLen).fill(fill));
  const out: GrpoBatch = {
    inputIds: rows(shape.padId),
    attentionMask: rows(0),
    lossMask: rows(0),
    advantages: rows(0),
    genLogprobs: rows(0),
  };
  requests.forEach((req, b) => {
    const done = completed.get(req.data.requestId);
    if (!done) throw new Error(`train batch: request ${req.data.requestId} has no RolloutCompleted`);
    const prompt = req.data.promptTokenIds;
    const gen = done.data.tokenIds;
    if (prompt.length + gen.length > shape.seqLen) {
      throw new Error(
        `train batch: request ${req.data.requestId} has ${prompt.length} prompt + ${gen.length} generated tokens, more than seqLen ${shape.seqLen} (raise sampling.maxPromptTokens)`,
      );
    }
    const adv = advOf.get(req.data.requestId) ?? 0;
    [...prompt, ...gen].forEach((tok, t) => {
      out.inputIds[b]![t] = tok;
      out.attentionMask[b]![t] = 1;
    });
    gen.forEach((_, i) => {
      const t = prompt.length + i;
      out.lossMask[b]![t] = 1;
      out.advantages[b]![t] = adv;
      out.genLogprobs[b]![t] = done.data.logprobs[i]!;
    });
  });
  return out;
}
