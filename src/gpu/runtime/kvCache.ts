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

  /** Joins `a` and `b` along the batch axis (see Decoder.concatRows). */
  static async concat(ops: CacheOps, a: OrtKvCache, b: OrtKvCache): Promise<OrtKvCache> {
    const len = Math.max(a.pastLength, b.pastLength);
    const out = await ops.concat(a.peek(), b.peek(), len - a.pastLength, len - b.pastLength);
    a.dispose();
    b.dispose();
    return new OrtKvCache(ops, a.batch + b.batch, len, out);
  }
}
