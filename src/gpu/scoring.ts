import type { Decoder, IntRows } from './runtime/Decoder.js';
import { logSoftmaxAt } from './sampling/processors.js';
import { defaultPositions } from './train/batch.js';

/**
 * Log-probability of every token of each row under `decoder`, from one full-sequence forward
 * (no cache): entry t = log_softmax(logits[t − 1] / temperature)[token t]; entry 0 and masked
 * entries are 0. Used for the reference policy's logprobs of GRPO's KL penalty.
 *
 * Rows are right-padded: `attentionMask` marks the real tokens, positions count them.
 */
export async function sequenceLogprobs(
  decoder: Decoder,
  inputIds: IntRows,
  attentionMask: IntRows,
  temperature: number,
): Promise<number[][]> {
  const positionIds = defaultPositions(attentionMask);
  const { logits, dims, cache } = await decoder.forward({ inputIds, positionIds, attentionMask }, decoder.emptyCache(inputIds.length));
  cache.dispose();
  const [, T, V] = dims;
  const scale = temperature > 0 ? 1 / temperature : 1;
  const scores = new Float64Array(V);
  return inputIds.map((row, b) =>
    row.map((token, t) => {
      if (t === 0 || !attentionMask[b]![t]) return 0;
      const base = (b * T + t - 1) * V;
      for (let v = 0; v < V; v++) scores[v] = logits[base + v]! * scale;
      return logSoftmaxAt(scores, token);
    }),
  );
}
