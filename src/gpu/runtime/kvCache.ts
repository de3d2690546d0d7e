import type * as ort from 'onnxruntime-node';
import type { KvCache } from './Decoder.js';
import type { CacheOps } from './cacheOps.js';

/**
 * A KV cache held as ONNX Runtime tensors, ordered [key0, value0, key1, value1, …], each
 * [B, Hkv, pastLength, D]. On WebGPU they are GPU buffers that are only ever fed back to a
 * session or disposed. Consumption (see Decoder.ts) is enforced: a consumed cache throws.
 */
export class OrtKvCache implements KvCache {
  private tensors: ort.Tensor[] | undefined;

  constructor(
    private readonly ops: CacheOps,
    readonly batch: number,
    readonly pastLength: number,
    tensors: ort.Tensor[],
  ) {
    this.tensors = tensors;
  }

  get alive(): boolean {
    return this.tensors !== undefined;
  }

  /** The tensors, for feeding; throws when consumed. */
  peek(): readonly ort.Tensor[] {
    if (!this.tensors) throw new Error('KvCache: this cache was already consumed (by forward/gatherRows/concatRows) or disposed');
    return this.tensors;
  }

  /** Marks the cache consumed and disposes its tensors. */
  dispose(): void {
    const t = this.tensors;
    this.tensors = undefined;
    if (t) for (const x of t) x.dispose();
  }

  async gatherRows(rows: readonly number[]): Promise<KvCache> {
    for (const r of rows) {
      if (!Number.isInteger(r) || r < 0 || r >= this.batch) {
        throw new Error(`KvCache.gatherRows: row ${r} is out of range for a cache of ${this.batch} rows`);
      }
    }
    const out = await this.ops.gather(this.peek(), rows);
    this.dispose();
    return new OrtKvCache(this.ops, rows.length, this.pastLength, out);
  }

  async gatherSlots(slots: readonly (readonly number[])[]): Promise<KvCache> {
    const S = slots[0]?.length ?? 0;
    if (slots.length !== this.batch) throw new Error(`KvCache.gatherSlots: ${slots.length} slot lists for a cache of ${this.batch} rows`);
    for (const [b, row] of slots.entries()) {
      if (row.length !== S) throw new Error(`KvCache.gatherSlots: row ${b} keeps ${row.length} slots, row 0 keeps ${S}; every row must keep the same number`);
      const bad = row.find((j) => !Number.isInteger(j) || j < 0 || j >= this.pastLength);
      if (bad !== undefined) throw new Error(`KvCache.gatherSlots: slot ${bad} of row ${b} is out of range for ${this.pastLength} slots`);
    }
    const out = await this.ops.gatherSlots(this.peek(), slots);
    this.dispose();
    return new OrtKvCache(this.ops, this.batch, S, out);
  }

  /** Joins `a` and `b` along the batch axis (see Decoder.concatRows). */
  static async concat(ops: CacheOps, a: OrtKvCache, b: OrtKvCache): Promise<OrtKvCache> {
    const len = Math.max(a.pastLength, b.pastLength);
    const out = await ops.concat(a.peek(), b.peek(), len - a.pastLength, len - b.pastLength);
    a.dispose();
    b.dispose();
    return new OrtKvCache(ops, a.batch + b.batch, len, out);
  }
}
