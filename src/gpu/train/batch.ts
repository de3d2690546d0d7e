/**
 * A training batch in plain arrays, and its conversion to the train-step graph's feeds.
 */
import * as ort from 'onnxruntime-node';
import { BATCH } from './losses.js';

/** Per-token arrays are [B][T], aligned with `inputIds` (entry t belongs to token t; entry 0 unused). */
export interface TrainBatch {
  readonly inputIds: readonly (readonly number[])[];
  /** 0/1 over the tokens (left padding 0). Default all ones. */
  readonly attentionMask?: readonly (readonly number[])[];
  /** Explicit positions; default cumsum(attentionMask) − 1 clamped at 0. */
  readonly positionIds?: readonly (readonly number[])[];
  /** 1 for tokens that contribute to the loss (generated tokens), 0 otherwise. */
  readonly lossMask: readonly (readonly number[])[];
  readonly advantages?: readonly (readonly number[])[];
  readonly oldLogprobs?: readonly (readonly number[])[];
  readonly genLogprobs?: readonly (readonly number[])[];
  readonly refLogprobs?: readonly (readonly number[])[];
  /** [B, T, V] row-major (distillation). */
  readonly teacherLogits?: Float32Array | Float64Array;
}

/** Default position ids: cumsum(mask) − 1, clamped at 0 (Hugging Face's convention). */
export function defaultPositions(mask: readonly (readonly number[])[]): number[][] {
  return mask.map((row) => {
    let c = 0;
    return row.map((m) => {
      c += m;
      return Math.max(c - 1, 0);
    });
  });
}

function check(name: string, rows: readonly (readonly number[])[], B: number, T: number): void {
  if (rows.length !== B || rows.some((r) => r.length !== T)) {
    throw new Error(`train batch: ${name} must be [${B}, ${T}]; got [${rows.length}, ${rows.map((r) => r.length).join('|')}]`);
  }
}

/**
 * Feeds for the train-step graph's batch inputs (`names`); float arrays in `dtype`.
 * Throws naming the missing field when the graph needs one the batch lacks.
 */
export function batchFeeds(
  batch: TrainBatch,
  names: readonly string[],
  dtype: 'float32' | 'float64',
  vocab: number,
): Record<string, ort.Tensor> {
  const B = batch.inputIds.length;
  const T = batch.inputIds[0]?.length ?? 0;
  check('inputIds', batch.inputIds, B, T);
  const mask = batch.attentionMask ?? batch.inputIds.map((r) => r.map(() => 1));
  check('attentionMask', mask, B, T);
  const pos = batch.positionIds ?? defaultPositions(mask);
  check('positionIds', pos, B, T);
  const ints = (rows: readonly (readonly number[])[]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map((x) => BigInt(x))), [B, T]);
  const floats = (rows: readonly (readonly number[])[]) =>
    new ort.Tensor(dtype, dtype === 'float32' ? Float32Array.from(rows.flat()) : Float64Array.from(rows.flat()), [B, T]);
  const fields: Record<string, [keyof TrainBatch, readonly (readonly number[])[] | undefined]> = {
    [BATCH.lossMask]: ['lossMask', batch.lossMask],
    [BATCH.advantages]: ['advantages', batch.advantages],
    [BATCH.oldLogprobs]: ['oldLogprobs', batch.oldLogprobs],
    [BATCH.genLogprobs]: ['genLogprobs', batch.genLogprobs],
    [BATCH.refLogprobs]: ['refLogprobs', batch.refLogprobs],
  };
  const feeds: Record<string, ort.Tensor> = {};
  for (const n of names) {
    if (n === 'input_ids') feeds[n] = ints(batch.inputIds);
    else if (n === 'attention_mask') feeds[n] = ints(mask);
    else if (n === 'position_ids') feeds[n] = ints(pos);
    else if (n === BATCH.teacherLogits) {
      const t = batch.teacherLogits;
      if (!t || t.length !== B * T * vocab) throw new Error(`train batch: teacherLogits must have ${B}×${T}×${vocab} values; got ${t?.length ?? 'none'}`);
      feeds[n] = new ort.Tensor(dtype, dtype === 'float32' ? Float32Array.from(t) : Float64Array.from(t), [B, T, vocab]);
    } else {
      const f = fields[n];
      if (!f) throw new Error(`train batch: the train-step graph needs input "${n}", which no batch field provides`);
      const rows = f[1];
      if (!rows) throw new Error(`train batch: the loss needs ${f[0]} (graph input "${n}")`);
      check(f[0], rows, B, T);
      feeds[n] = floats(rows);
    }
  }
  return feeds;
}
