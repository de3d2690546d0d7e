/**
 * The node emitter that gradient rules write through: appends ONNX nodes to a `GraphBuilder`,
 * makes typed constants (cached, so a scalar 1.0 of float64 is one initializer), and knows the
 * static shape of every forward value (and of every gradient, which has its value's shape).
 */
import type { Attr, DType, GraphBuilder } from '../graph/ir.js';
import { attr } from '../graph/ir.js';
import type { ValueMeta } from './shapes.js';
import { numel } from './shapes.js';

/** ONNX TensorProto.DataType codes (for Cast's `to`). */
export const ONNX_TYPE: Readonly<Record<DType, number>> = {
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

export const isFloat = (d: DType): boolean => d === 'float32' || d === 'float64' || d === 'float16';

export function floatArray(dtype: DType, values: readonly number[]): Float32Array | Float64Array {
  if (dtype === 'float32') return Float32Array.from(values);
  if (dtype === 'float64') return Float64Array.from(values);
  throw new Error(`autodiff: constants of dtype ${dtype} are not supported (float32 | float64)`);
}

export class Emitter {
  private readonly consts = new Map<string, string>();
  private count = 0;

  constructor(
    readonly b: GraphBuilder,
    private readonly metas: Map<string, ValueMeta>,
    private readonly prefix = 'grad',
  ) {}

  meta(name: string): ValueMeta {
    const m = this.metas.get(name);
    if (!m) throw new Error(`autodiff: no shape known for value ${name}`);
    return m;
  }

  /** Records the shape of a value emitted by a rule (so later rules can ask for it). */
  setMeta(name: string, m: ValueMeta): void {
    this.metas.set(name, m);
  }

  /** Appends one node; returns its single output. */
  op(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, Attr>> = {}): string {
    return this.b.op(opType, inputs, attrs, { name: `${this.prefix}/${opType}_${this.count++}` })[0]!;
  }

  /** A rank-0 float constant of `dtype`. */
  scalar(value: number, dtype: DType): string {
    const key = `s:${dtype}:${value}`;
    let n = this.consts.get(key);
    if (!n) {
      // '/' keeps these names apart from model values (fresh() reserves a name, so it cannot be
      // passed to initializer())
      n = this.b.initializer(`${this.prefix}/const_${this.consts.size}`, dtype, [], floatArray(dtype, [value]));
      this.consts.set(key, n);
    }
    return n;
  }

  /** A 1-D int64 constant. */
  ints(values: readonly number[]): string {
    const key = `i:${values.join(',')}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.b.constInt64(values, [values.length], `${this.prefix}_i`);
      this.consts.set(key, n);
    }
    return n;
  }

  reshape(x: string, shape: readonly number[]): string {
    return this.op('Reshape', [x, this.ints(shape)]);
  }

  /** Zeros of the given shape (a broadcast scalar: no large initializer). */
  zeros(shape: readonly number[], dtype: DType): string {
    return this.op('Expand', [this.scalar(0, dtype), this.ints(shape)]);
  }

  /**
   * Sums a gradient of broadcast shape `from` down to the operand shape `to` (undoes
   * numpy broadcasting): ReduceSum over the leading axes and the axes where `to` is 1.
   */
  unbroadcast(g: string, from: readonly number[], to: readonly number[]): string {
    if (from.length === to.length && from.every((d, i) => d === to[i])) return g;
    const lead = from.length - to.length;
    const axes: number[] = [];
    from.forEach((d, i) => {
      if (i < lead || (to[i - lead] === 1 && d !== 1)) axes.push(i);
    });
    let r = g;
    if (axes.length > 0) r = this.op('ReduceSum', [g, this.ints(axes)], { keepdims: attr.int(1) });
    const reduced = from.map((d, i) => (axes.includes(i) ? 1 : d));
    if (reduced.length !== to.length || numel(reduced) !== numel(to) || reduced.some((d, i) => d !== to[i])) {
      r = this.reshape(r, to);
    }
    return r;
  }
}
