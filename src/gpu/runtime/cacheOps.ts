import * as ort from 'onnxruntime-node';
import { GraphBuilder, attr } from '../graph/ir.js';
import { serializeModel } from '../graph/serialize.js';
import type { Device } from './Decoder.js';
import { CheckedSession } from './session.js';

/**
 * Batch-row operations on KV caches that never move the tensors off the device: tiny ONNX
 * Runtime sessions built with the GraphBuilder, on the same execution provider as the model,
 * whose outputs stay on the GPU under WebGPU (`gpu-buffer`). The same sessions run on CPU, so
 * the CPU tests exercise exactly the code path the GPU uses.
 *
 *   gather:  out_i = Gather(c_i, rows, axis 0)                         for each cache tensor i
 *   concat:  out_i = Concat(Pad(a_i, [0,0,padA,0]), Pad(b_i, [0,0,padB,0]), axis 0)
 *            (left-pads the sequence axis of the shorter cache with zeros)
 *   slots:   out_i = GatherElements(c_i, Expand(idx [B,1,S',1], [1,Hkv,1,D]), axis 2)
 *            (per-row slot selection: compaction of masked-out slots, speculative decoding)
 *
 * On a CPU these sessions get one intra-op thread: they are memory copies, and a second
 * multi-threaded pool keeps spinning after each copy on the cores the model's next forward
 * needs (2-core machine, batch 1: the median verify of 5 positions after a compaction or a
 * row gather went from 5.8 to 4.9 ms, `bench spec --trace`).
 */
export class CacheOps {
  private gatherSession: Promise<CheckedSession> | undefined;
  private concatSession: Promise<CheckedSession> | undefined;
  private slotsSession: Promise<CheckedSession> | undefined;

  constructor(
    private readonly device: Device,
    /** Number of cache tensors (2 × layers). */
    private readonly count: number,
    private readonly dims: { readonly heads: number; readonly headDim: number },
  ) {}

  /** Session options of every helper: the model's device, outputs kept there, one thread on a CPU. */
  private sessionOptions(outs: readonly string[], source: string) {
    return { device: this.device, gpuOutputs: outs, source, ...(this.device === 'cpu' ? { intraOpNumThreads: 1 } : {}) };
  }

  private outputs(prefix: string): string[] {
    return Array.from({ length: this.count }, (_, i) => `${prefix}${i}`);
  }

  private session(kind: 'gather' | 'concat'): Promise<CheckedSession> {
    const cached = kind === 'gather' ? this.gatherSession : this.concatSession;
    if (cached) return cached;
    const g = new GraphBuilder(`kv_${kind}`);
    const shape = (b: string, s: string) => [b, this.dims.heads, s, this.dims.headDim];
    const outs = this.outputs('out');
    if (kind === 'gather') {
      const rows = g.input('rows', 'int64', ['n']);
      for (let i = 0; i < this.count; i++) {
        const c = g.input(`c${i}`, 'float32', shape('batch', 'seq'));
        g.op('Gather', [c, rows], { axis: attr.int(0) }, { outputs: [outs[i]!] });
        g.output(outs[i]!, 'float32', shape('n', 'seq'));
      }
    } else {
      const padsA = g.input('pads_a', 'int64', [8]);
      const padsB = g.input('pads_b', 'int64', [8]);
      for (let i = 0; i < this.count; i++) {
        const a = g.op1('Pad', [g.input(`a${i}`, 'float32', shape('batch_a', 'seq_a')), padsA], { mode: attr.string('constant') });
        const b = g.op1('Pad', [g.input(`b${i}`, 'float32', shape('batch_b', 'seq_b')), padsB], { mode: attr.string('constant') });
        g.op('Concat', [a, b], { axis: attr.int(0) }, { outputs: [outs[i]!] });
        g.output(outs[i]!, 'float32', shape('batch', 'seq'));
      }
    }
    const created = CheckedSession.create(serializeModel(g.build()), this.sessionOptions(outs, `KV-cache ${kind} helper`));
    if (kind === 'gather') this.gatherSession = created;
    else this.concatSession = created;
    return created;
  }

  /** Per-row slots `slots[b]` of every cache tensor (consumes nothing; the caller disposes the inputs). */
  async gatherSlots(tensors: readonly ort.Tensor[], slots: readonly (readonly number[])[]): Promise<ort.Tensor[]> {
    if (!this.slotsSession) {
      const g = new GraphBuilder('kv_slots');
      const shape = (s: string) => ['batch', this.dims.heads, s, this.dims.headDim];
      const idx = g.input('slots', 'int64', ['batch', 1, 'kept', 1]);
      const full = g.op1('Expand', [idx, g.constInt64([1, this.dims.heads, 1, this.dims.headDim])]);
      const outs = this.outputs('out');
      for (let i = 0; i < this.count; i++) {
        g.op('GatherElements', [g.input(`c${i}`, 'float32', shape('seq')), full], { axis: attr.int(2) }, { outputs: [outs[i]!] });
        g.output(outs[i]!, 'float32', shape('kept'));
      }
      this.slotsSession = CheckedSession.create(serializeModel(g.build()), this.sessionOptions(outs, 'KV-cache slots helper'));
    }
    const s = await this.slotsSession;
    const S = slots[0]?.length ?? 0;
    const feeds: Record<string, ort.Tensor> = { slots: new ort.Tensor('int64', BigInt64Array.from(slots.flat().map(BigInt)), [slots.length, 1, S, 1]) };
    tensors.forEach((t, i) => (feeds[`c${i}`] = t));
    const out = await s.run(feeds);
    return this.outputs('out').map((n) => out[n]!);
  }

  /** Rows `rows` of every cache tensor (consumes nothing; the caller disposes the inputs). */
  async gather(tensors: readonly ort.Tensor[], rows: readonly number[]): Promise<ort.Tensor[]> {
    const s = await this.session('gather');
    const feeds: Record<string, ort.Tensor> = { rows: new ort.Tensor('int64', BigInt64Array.from(rows.map(BigInt)), [rows.length]) };
    tensors.forEach((t, i) => (feeds[`c${i}`] = t));
    const out = await s.run(feeds);
    return this.outputs('out').map((n) => out[n]!);
  }

  /** Batch concat of two caches, left-padding the shorter sequence axis by `padA` / `padB` slots. */
  async concat(a: readonly ort.Tensor[], b: readonly ort.Tensor[], padA: number, padB: number): Promise<ort.Tensor[]> {
    const s = await this.session('concat');
    const pads = (p: number) => new ort.Tensor('int64', BigInt64Array.from([0, 0, p, 0, 0, 0, 0, 0].map(BigInt)), [8]);
    const feeds: Record<string, ort.Tensor> = { pads_a: pads(padA), pads_b: pads(padB) };
    a.forEach((t, i) => (feeds[`a${i}`] = t));
    b.forEach((t, i) => (feeds[`b${i}`] = t));
    const out = await s.run(feeds);
    return this.outputs('out').map((n) => out[n]!);
  }

  async release(): Promise<void> {
    for (const s of [this.gatherSession, this.concatSession, this.slotsSession]) if (s) await (await s).release();
  }
}
