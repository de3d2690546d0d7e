import type { Tokenizer } from '@huggingface/tokenizers';

/**
 * The decoder API the rest of specstream (generation, speculative decoding, continuous
 * batching) talks to. One implementation (`OrtDecoder`) runs any graph with the standard
 * Hugging Face / optimum decoder I/O on ONNX Runtime, CPU or WebGPU.
 *
 * Ownership: a `KvCache` is a handle to device tensors. `forward`, `gatherRows` and `concatRows`
 * CONSUME the caches they are given (their tensors are disposed, or reused by the result) and
 * return a new one; using a consumed cache throws. Call `dispose()` on a cache you drop.
 */
export type Device = 'cpu' | 'webgpu';

export interface DecoderInfo {
  /** Directory or model name, for messages. */
  readonly name: string;
  readonly vocabSize: number;
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly device: Device;
}

/** Row-major integer matrix [rows][cols]; every row must have the same length. */
export type IntRows = readonly (readonly number[])[];

export interface ForwardInput {
  /** [B, T] token ids. */
  readonly inputIds: IntRows;
  /** [B, T] explicit positions (RoPE angles); the caller keeps them contiguous across holes. */
  readonly positionIds: IntRows;
  /**
   * [B, past + T] of 0/1 over all cache slots plus the new tokens. Slots with 0 (left padding,
   * rejected draft tokens) are never attended to: they behave as if absent.
   */
  readonly attentionMask: IntRows;
  /**
   * Logits only for the last n positions of each row (0 or absent: all T). With a graph that
   * declares `num_logits_to_keep` (the builder's does) the LM head runs only on those
   * positions; otherwise the logits are cut on the CPU.
   */
  readonly numLogitsToKeep?: number;
}

export interface ForwardOutput {
  /** [B, T', V] row-major, on the CPU; T' = T, or numLogitsToKeep when given (≤ T). */
  readonly logits: Float32Array;
  readonly dims: readonly [number, number, number];
  /** The cache after this call: past + T slots. */
  readonly cache: KvCache;
}

export interface KvCache {
  readonly batch: number;
  /** Number of cache slots (masked or not) per row. */
  readonly pastLength: number;
  /** False once consumed by forward/gatherRows/concatRows or disposed. */
  readonly alive: boolean;
  /**
   * Keeps/reorders/duplicates batch rows: result row i = this row `rows[i]`. Consumes `this`.
   * On WebGPU the copy runs on the GPU (a small Gather session); tensors never leave the device.
   */
  gatherRows(rows: readonly number[]): Promise<KvCache>;
  /**
   * Keeps/reorders slots along the sequence axis, per row: result row b, slot j = this row b,
   * slot `slots[b][j]` (every row the same number of slots). Consumes `this`. Speculative
   * decoding uses it to compact a cache whose rejected slots were masked out. Optional: a
   * Decoder without it never compacts.
   */
  gatherSlots?(slots: readonly (readonly number[])[]): Promise<KvCache>;
  /** Frees the device tensors. Idempotent. */
  dispose(): void;
}

export interface Decoder {
  readonly info: DecoderInfo;
  /** Present when the model directory has tokenizer.json. */
  readonly tokenizer: Tokenizer | undefined;
  /** A cache with zero slots for `batch` rows. */
  emptyCache(batch: number): KvCache;
  /**
   * One forward pass over T new tokens per row. Consumes `cache` (its tensors are replaced by
   * the returned cache's; on WebGPU they stay on the GPU) and returns logits on the CPU.
   * Throws, naming the argument and the expected vs received shape, on inconsistent input.
   */
  forward(input: ForwardInput, cache: KvCache): Promise<ForwardOutput>;
  /**
   * Joins two caches along the batch axis (rows of `a` then rows of `b`). The shorter one is
   * left-padded with zero slots along the sequence axis to the longer's pastLength; the caller
   * masks those slots (0 in attention_mask). Consumes both.
   */
  concatRows(a: KvCache, b: KvCache): Promise<KvCache>;
  /**
   * Optional (decoders built from config + weights): k greedy draft tokens per row in ONE
   * session run (the unrolled graph of `buildGreedyDraftModel`). `input` as for `forward`, but
   * every row LEFT-padded so that its last token is in the last column. Returns the argmax
   * tokens [B][k] and the cache with past + T + k − 1 slots: the input, then drafts 1 … k − 1
   * (valid, at the positions after the row's last one); draft k is not in it. Consumes `cache`.
   */
  greedyDraft?(input: ForwardInput, k: number, cache: KvCache): Promise<{ tokens: number[][]; cache: KvCache }>;
  /** With `greedyDraft`: builds and opens the k-step sessions for `ks` now (else on first use). */
  prepareGreedyDraft?(ks: readonly number[]): Promise<void>;
  /** Releases the sessions (and any cache helper sessions). */
  release(): Promise<void>;
}
