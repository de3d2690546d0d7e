import type { Decoder, KvCache } from '../runtime/Decoder.js';
import { Xoshiro128 } from './rng.js';
import type { SamplingParams } from './sample.js';
import { processorsFor, sampleToken } from './sample.js';

export type FinishReason = 'stop' | 'length';

export interface GenerateRequest {
  /** Prompt token ids per sample (the batch). */
  readonly prompts: readonly (readonly number[])[];
  readonly params: SamplingParams;
  /** New tokens per sample: one limit for all, or one per prompt (a batch of rollouts of different lengths). */
  readonly maxNewTokens: number | readonly number[];
  /**
   * Seed; sample i draws from `new Xoshiro128(seed, streamOffset + i)`, so a row's tokens do not
   * depend on which other rows share its batch.
   */
  readonly seed: number;
  readonly streamOffset?: number;
  /** Token ids that end a sample (default: the decoder's eos ids). The EOS token is kept in the output. */
  readonly eosTokenIds?: readonly number[];
  /** Strings that end a sample once the decoded text contains them (needs the tokenizer). */
  readonly stopStrings?: readonly string[];
  /** Called for every generated token, in order per row (for streaming). */
  readonly onToken?: (row: number, token: number, logprob: number) => void;
}

export interface GenerateResult {
  readonly tokenIds: number[];
  readonly logprobs: number[];
  readonly finishReason: FinishReason;
  /** Decoded text (special tokens skipped), cut before a matched stop string; when a tokenizer exists. */
  readonly text: string | undefined;
}

/**
 * Batched sampling with per-row stop conditions.
 *
 * 1. Left-pads the prompts to a common length (mask 0, positions from 0 per row) and prefills.
 * 2. Each step samples one token per live row from its last logits (seeded per row), checks EOS,
 *    stop strings and max new tokens, and feeds the new tokens back with mask 1 and the row's
 *    next position.
 * 3. Finished rows leave the batch: the cache keeps only live rows (`gatherRows`), so late
 *    steps cost only what is still running.
 */
export async function generate(decoder: Decoder, req: GenerateRequest): Promise<GenerateResult[]> {
  processorsFor(req.params); // validate before any work
  const n = req.prompts.length;
  const limits = typeof req.maxNewTokens === 'number' ? Array<number>(n).fill(req.maxNewTokens) : [...req.maxNewTokens];
  if (limits.length !== n) throw new Error(`maxNewTokens has ${limits.length} limits for ${n} prompts; give one number, or one per prompt`);
  limits.forEach((m, i) => {
    if (!(Number.isInteger(m) && m >= 1)) throw new Error(`maxNewTokens${typeof req.maxNewTokens === 'number' ? '' : `[${i}]`} must be an integer ≥ 1; got ${m}`);
  });
  if (n === 0) return [];
  req.prompts.forEach((p, i) => {
    if (p.length === 0) throw new Error(`prompt ${i} is empty; give at least one token (e.g. the BOS id)`);
  });
  const stops = req.stopStrings ?? [];
  const tok = decoder.tokenizer;
  if (stops.length > 0 && !tok) throw new Error(`stop strings need a tokenizer, and ${decoder.info.name} has no tokenizer.json`);
  const eos = new Set(req.eosTokenIds ?? decoder.info.eosTokenIds);
  const rngs = req.prompts.map((_, i) => new Xoshiro128(req.seed, (req.streamOffset ?? 0) + i));
  const out = req.prompts.map(() => ({ tokenIds: [] as number[], logprobs: [] as number[], finishReason: 'length' as FinishReason, text: undefined as string | undefined }));

  const L = Math.max(...req.prompts.map((p) => p.length));
  let live = req.prompts.map((_, i) => i); // sample index of each batch row
  let mask = req.prompts.map((p) => [...Array<number>(L - p.length).fill(0), ...Array<number>(p.length).fill(1)]);
  let nextPos = req.prompts.map((p) => p.length);
  let cache: KvCache = decoder.emptyCache(n);
  let fwd = await decoder.forward(
    {
      inputIds: req.prompts.map((p) => [...Array<number>(L - p.length).fill(decoder.info.padTokenId ?? 0), ...p]),
      positionIds: req.prompts.map((p) => [...Array<number>(L - p.length).fill(0), ...p.map((_, t) => t)]),
      attentionMask: mask,
      numLogitsToKeep: 1,
    },
    cache,
  );
  cache = fwd.cache;
  try {
    for (let step = 0; ; step++) {
      const [, T, V] = fwd.dims;
      const tokens: number[] = [];
      const keep: number[] = [];
      live.forEach((s, row) => {
        const logits = fwd.logits.subarray((row * T + T - 1) * V, (row * T + T) * V);
        const { token, logprob } = sampleToken(logits, req.params, rngs[s]!);
        const o = out[s]!;
        o.tokenIds.push(token);
        o.logprobs.push(logprob);
        req.onToken?.(s, token, logprob);
        let done = false;
        if (eos.has(token)) done = true;
        if (tok && stops.length > 0) {
          const text = tok.decode(o.tokenIds, { skip_special_tokens: true });
          const hit = stops.map((st) => text.indexOf(st)).filter((i) => i >= 0);
          if (hit.length > 0) {
            done = true;
            o.text = text.slice(0, Math.min(...hit));
          }
        }
        if (done) o.finishReason = 'stop';
        else if (o.tokenIds.length >= limits[s]!) done = true;
        if (!done) {
          keep.push(row);
          tokens.push(token);
        }
      });
      if (keep.length === 0) break;
      if (keep.length < live.length) {
        cache = await cache.gatherRows(keep);
        live = keep.map((r) => live[r]!);
        mask = keep.map((r) => mask[r]!);
        nextPos = keep.map((r) => nextPos[r]!);
      }
      mask = mask.map((m) => [...m, 1]);
      fwd = await decoder.forward({ inputIds: tokens.map((t) => [t]), positionIds: nextPos.map((p) => [p]), attentionMask: mask }, cache);
      cache = fwd.cache;
      nextPos = nextPos.map((p) => p + 1);
    }
  } finally {
    cache.dispose();
  }
  for (const o of out) if (tok && o.text === undefined) o.text = tok.decode(o.tokenIds, { skip_special_tokens: true });
  return out;
}
