/**
 * Static shape, dtype and small-constant inference over the graph IR.
 *
 * A train-step graph is built for a fixed [B, T], so every value has a static shape. The
 * gradient rules need those shapes (to undo broadcasting, to pad a sliced gradient) and the
 * values of the small integer tensors that drive shape ops (Reshape targets, Slice bounds,
 * axes), which the model builder may compute in-graph (Shape → Gather → Concat → Reshape).
 * So this is a tiny abstract interpreter: shapes for every value, concrete values for
 * initializers, Constants and anything computed from them with up to `MAX_VALUE` elements.
 */
import type { DType, Graph, Node, TensorData } from '../graph/ir.js';
import { dtypeFromOnnx } from '../graph/serialize.js';

export interface ValueMeta {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Flattened value when known statically (small tensors only). */
  readonly value?: readonly number[];
}

const MAX_VALUE = 4096;

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Numpy-style broadcast of shapes; throws naming the node when they are incompatible. */
export function broadcastShapes(shapes: readonly (readonly number[])[], where: string): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s[s.length - rank + i] ?? 1;
      if (k === 1) continue;
      if (d !== 1 && d !== k) throw new Error(`${where}: shapes ${shapes.map((x) => `[${x}]`).join(' ')} do not broadcast`);
      d = k;
    }
    out.push(d);
  }
  return out;
}

export function tensorValues(t: TensorData): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x));
}

const normAxis = (a: number, rank: number): number => (a < 0 ? a + rank : a);

/** Row-major strides. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** Elementwise op over broadcast operands' known values. */
function broadcastValues(
  metas: readonly ValueMeta[],
  outShape: readonly number[],
  f: (...xs: number[]) => number,
): number[] | undefined {
  if (metas.some((m) => m.value === undefined) || numel(outShape) > MAX_VALUE) return undefined;
  const n = numel(outShape);
  const outStrides = strides(outShape);
  const res = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const args = metas.map((m) => {
      const st = strides(m.shape);
      let off = 0;
      for (let d = 0; d < m.shape.length; d++) {
        const od = outShape.length - m.shape.length + d;
        const idx = Math.floor(i / outStrides[od]!) % outShape[od]!;
        off += (m.shape[d] === 1 ? 0 : idx) * st[d]!;
      }
      return m.value![off]!;
    });
    res[i] = f(...args);
  }
  return res;
}

const BINARY: Readonly<Record<string, (a: number, b: number) => number>> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => a ** b,
  Max: (a, b) => Math.max(a, b),
  Min: (a, b) => Math.min(a, b),
  Equal: (a, b) => Number(a === b),
  Less: (a, b) => Number(a < b),
  Greater: (a, b) => Number(a > b),
  LessOrEqual: (a, b) => Number(a <= b),
  GreaterOrEqual: (a, b) => Number(a >= b),
  And: (a, b) => Number(a && b),
  Or: (a, b) => Number(a || b),
  Mod: (a, b) => a % b,
};
const COMPARISONS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Not']);
const UNARY = new Set([
  'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Sigmoid', 'Tanh', 'Abs', 'Relu', 'Identity', 'Erf', 'Sin', 'Cos',
  'Not', 'Softmax', 'LogSoftmax', 'Floor', 'Ceil', 'Trilu', 'CumSum', 'IsNaN', 'IsInf', 'Sign', 'Round',
]);
const UNARY_VALUE: Readonly<Record<string, (a: number) => number>> = {
  Neg: (a) => -a,
  Identity: (a) => a,
  Abs: (a) => Math.abs(a),
  Not: (a) => Number(!a),
  Floor: Math.floor,
  Ceil: Math.ceil,
  Sqrt: Math.sqrt,
  Reciprocal: (a) => 1 / a,
  Exp: Math.exp,
  Log: Math.log,
};

/** Attribute helpers. */
export function intAttr(node: Node, name: string, dflt: number): number {
  const a = node.attrs[name];
  if (a === undefined) return dflt;
  if (a.type !== 'int') throw new Error(`node ${node.name} (${node.opType}): attribute ${name} should be int, got ${a.type}`);
  return a.value;
}
export function intsAttr(node: Node, name: string): readonly number[] | undefined {
  const a = node.attrs[name];
  if (a === undefined) return undefined;
  if (a.type !== 'ints') throw new Error(`node ${node.name} (${node.opType}): attribute ${name} should be ints, got ${a.type}`);
  return a.value;
}
export function floatAttr(node: Node, name: string, dflt: number): number {
  const a = node.attrs[name];
  if (a === undefined) return dflt;
  if (a.type !== 'float') throw new Error(`node ${node.name} (${node.opType}): attribute ${name} should be float, got ${a.type}`);
  return a.value;
}

/** Reduction axes of a Reduce* node: input 1 for ReduceSum (opset 13+), the `axes` attribute otherwise. */
export function reduceAxes(node: Node, meta: (n: string) => ValueMeta): number[] {
  const rank = meta(node.inputs[0]!).shape.length;
  let axes: readonly number[] | undefined;
  if (node.inputs[1]) {
    axes = meta(node.inputs[1]).value;
    if (axes === undefined) throw new Error(`node ${node.name} (${node.opType}): axes input ${node.inputs[1]} is not a constant`);
  } else axes = intsAttr(node, 'axes');
  if (axes === undefined || axes.length === 0) {
    if (intAttr(node, 'noop_with_empty_axes', 0)) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
}

/** Slice parameters normalised to per-axis (start, end, step) over all axes of the input. */
export function sliceParams(node: Node, meta: (n: string) => ValueMeta): { start: number[]; end: number[]; step: number[] } {
  const shape = meta(node.inputs[0]!).shape;
  const val = (i: number): readonly number[] | undefined => {
    const n = node.inputs[i];
    if (!n) return undefined;
    const v = meta(n).value;
    if (v === undefined) throw new Error(`node ${node.name} (Slice): input ${i} (${n}) is not a constant`);
    return v;
  };
  const starts = val(1)!;
  const ends = val(2)!;
  const axes = val(3) ?? starts.map((_, i) => i);
  const steps = val(4) ?? starts.map(() => 1);
  const start = shape.map(() => 0);
  const end = [...shape];
  const step = shape.map(() => 1);
  axes.forEach((a0, i) => {
    const a = normAxis(a0, shape.length);
    const dim = shape[a]!;
    const st = steps[i]!;
    const clamp = (x: number, lo: number, hi: number): number => Math.min(Math.max(x, lo), hi);
    let s = starts[i]!;
    let e = ends[i]!;
    s = s < 0 ? s + dim : s;
    e = e < 0 ? e + dim : e;
    if (st > 0) {
      s = clamp(s, 0, dim);
      e = clamp(e, 0, dim);
    } else {
      s = clamp(s, 0, dim - 1);
      e = clamp(e, -1, dim - 1);
    }
    start[a] = s;
    end[a] = e;
    step[a] = st;
  });
  return { start, end, step };
}

function sliceLen(s: number, e: number, st: number): number {
  return Math.max(0, Math.ceil((e - s) / st));
}

/**
 * Infers `ValueMeta` for every value of `graph`. Graph inputs must have numeric dims, or be
 * given in `inputShapes` (e.g. batch=2, sequence=8 for a train-step graph).
 */
export function inferShapes(graph: Graph, inputShapes: Readonly<Record<string, readonly number[]>> = {}): Map<string, ValueMeta> {
  const metas = new Map<string, ValueMeta>();
  for (const inp of graph.inputs) {
    const shape = inputShapes[inp.name] ?? inp.shape;
    if (shape.some((d) => typeof d !== 'number')) {
      throw new Error(`graph ${graph.name}: input ${inp.name} has symbolic shape [${inp.shape}]; give a static shape`);
    }
    metas.set(inp.name, { dtype: inp.dtype, shape: shape as number[] });
  }
  for (const t of graph.initializers) {
    const n = numel(t.dims);
    metas.set(t.name, { dtype: t.dtype, shape: [...t.dims], ...(n <= MAX_VALUE ? { value: tensorValues(t) } : {}) });
  }
  const get = (n: string): ValueMeta => {
    const m = metas.get(n);
    if (!m) throw new Error(`graph ${graph.name}: value ${n} is used before it is defined`);
    return m;
  };
  for (const node of graph.nodes) {
    const outs = inferNode(node, get);
    node.outputs.forEach((o, i) => {
      if (o !== '') metas.set(o, outs[i]!);
    });
  }
  return metas;
}

function inferNode(node: Node, meta: (n: string) => ValueMeta): ValueMeta[] {
  const where = `node ${node.name} (${node.opType})`;
  const ins = node.inputs.map((n) => (n === '' ? undefined : meta(n)));
  const x = ins[0]!;
  const op = node.opType;
  const small = (shape: readonly number[], v: number[] | undefined): number[] | undefined =>
    v !== undefined && numel(shape) <= MAX_VALUE ? v : undefined;
  const withValue = (dtype: DType, shape: number[], value?: readonly number[]): ValueMeta =>
    value === undefined ? { dtype, shape } : { dtype, shape, value };
  if (node.domain !== '' && node.domain !== 'ai.onnx') throw new Error(`${where}: domain ${node.domain} is not supported by autodiff`);
  if (op in BINARY) {
    const shape = broadcastShapes([ins[0]!.shape, ins[1]!.shape], where);
    const dtype = COMPARISONS.has(op) ? 'bool' : x.dtype;
    return [withValue(dtype, shape, broadcastValues([ins[0]!, ins[1]!], shape, BINARY[op]!))];
  }
  if (UNARY.has(op)) {
    const dtype = op === 'Not' || op === 'IsNaN' || op === 'IsInf' ? 'bool' : x.dtype;
    const f = UNARY_VALUE[op] as ((a: number) => number) | undefined;
    return [withValue(dtype, [...x.shape], f && x.value ? x.value.map(f) : undefined)];
  }
  switch (op) {
    case 'Sum': {
      const shape = broadcastShapes(ins.map((m) => m!.shape), where);
      return [{ dtype: x.dtype, shape }];
    }
    case 'Where': {
      const shape = broadcastShapes(ins.map((m) => m!.shape), where);
      return [withValue(ins[1]!.dtype, shape, broadcastValues(ins as ValueMeta[], shape, (c, a, b) => (c ? a : b)))];
    }
    case 'Clip':
      return [{ dtype: x.dtype, shape: [...x.shape] }];
    case 'Cast': {
      const to = dtypeFromOnnx(intAttr(node, 'to', 0));
      if (!to) throw new Error(`${where}: unsupported target type ${intAttr(node, 'to', 0)}`);
      return [withValue(to, [...x.shape], x.value)];
    }
    case 'MatMul': {
      const a = x.shape;
      const b = ins[1]!.shape;
      if (a.length < 2 || b.length < 2) throw new Error(`${where}: rank-1 operands are not supported (shapes [${a}] [${b}])`);
      if (a[a.length - 1] !== b[b.length - 2]) throw new Error(`${where}: inner dims differ: [${a}] × [${b}]`);
      const batch = broadcastShapes([a.slice(0, -2), b.slice(0, -2)], where);
      return [{ dtype: x.dtype, shape: [...batch, a[a.length - 2]!, b[b.length - 1]!] }];
    }
    case 'Gather': {
      const axis = normAxis(intAttr(node, 'axis', 0), x.shape.length);
      const idx = ins[1]!;
      const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
      let value: number[] | undefined;
      if (x.value && idx.value && x.shape.length === 1) {
        value = idx.value.map((i) => x.value![i < 0 ? i + x.shape[0]! : i]!);
      }
      return [withValue(x.dtype, shape, value)];
    }
    case 'Reshape': {
      const target = ins[1]!.value;
      if (!target) throw new Error(`${where}: shape input ${node.inputs[1]} is not a constant`);
      const allowZero = intAttr(node, 'allowzero', 0);
      const shape = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i]! : d));
      const known = shape.filter((d) => d !== -1).reduce((p, q) => p * q, 1);
      const out = shape.map((d) => (d === -1 ? numel(x.shape) / known : d));
      if (numel(out) !== numel(x.shape)) throw new Error(`${where}: cannot reshape [${x.shape}] to [${target}]`);
      return [withValue(x.dtype, out, x.value)];
    }
    case 'Flatten': {
      const axis = normAxis(intAttr(node, 'axis', 1), x.shape.length);
      return [withValue(x.dtype, [numel(x.shape.slice(0, axis)), numel(x.shape.slice(axis))], x.value)];
    }
    case 'Transpose': {
      const perm = intsAttr(node, 'perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i);
      return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }];
    }
    case 'Unsqueeze': {
      const axes0 = ins[1]?.value ?? intsAttr(node, 'axes');
      if (!axes0) throw new Error(`${where}: axes are not constant`);
      const rank = x.shape.length + axes0.length;
      const axes = new Set(axes0.map((a) => normAxis(a, rank)));
      const shape: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) shape.push(axes.has(i) ? 1 : x.shape[j++]!);
      return [withValue(x.dtype, shape, x.value)];
    }
    case 'Squeeze': {
      const axes0 = ins[1]?.value ?? intsAttr(node, 'axes');
      const axes = new Set(axes0 ? axes0.map((a) => normAxis(a, x.shape.length)) : x.shape.flatMap((d, i) => (d === 1 ? [i] : [])));
      return [withValue(x.dtype, x.shape.filter((_, i) => !axes.has(i)), x.value)];
    }
    case 'Slice': {
      const { start, end, step } = sliceParams(node, meta);
      const shape = x.shape.map((_, a) => sliceLen(start[a]!, end[a]!, step[a]!));
      let value: number[] | undefined;
      if (x.value && x.shape.length === 1) {
        value = [];
        for (let i = start[0]!; step[0]! > 0 ? i < end[0]! : i > end[0]!; i += step[0]!) value.push(x.value[i]!);
      }
      return [withValue(x.dtype, shape, value)];
    }
    case 'Concat': {
      const axis = normAxis(intAttr(node, 'axis', 0), x.shape.length);
      const shape = [...x.shape];
      shape[axis] = ins.reduce((s, m) => s + m!.shape[axis]!, 0);
      const value = x.shape.length === 1 && ins.every((m) => m!.value) ? ins.flatMap((m) => [...m!.value!]) : undefined;
      return [withValue(x.dtype, shape, small(shape, value))];
    }
    case 'Split': {
      const axis = normAxis(intAttr(node, 'axis', 0), x.shape.length);
      const sizes =
        ins[1]?.value ??
        intsAttr(node, 'split') ??
        Array.from({ length: node.outputs.length }, () => x.shape[axis]! / node.outputs.length);
      return sizes.map((s) => {
        const shape = [...x.shape];
        shape[axis] = s;
        return { dtype: x.dtype, shape };
      });
    }
    case 'Expand': {
      const target = ins[1]!.value;
      if (!target) throw new Error(`${where}: shape input is not a constant`);
      const shape = broadcastShapes([x.shape, target], where);
      return [withValue(x.dtype, shape, broadcastValues([x], shape, (a) => a))];
    }
    case 'Shape': {
      const rank = x.shape.length;
      const s = normAxis(intAttr(node, 'start', 0), rank);
      const e = node.attrs['end'] ? normAxis(intAttr(node, 'end', rank), rank) : rank;
      const value = x.shape.slice(Math.max(0, s), Math.min(rank, e));
      return [{ dtype: 'int64', shape: [value.length], value }];
    }
    case 'Size':
      return [{ dtype: 'int64', shape: [], value: [numel(x.shape)] }];
    case 'Constant': {
      const a = node.attrs['value'];
      if (a?.type === 'tensor') {
        const t = a.value;
        return [withValue(t.dtype, [...t.dims], numel(t.dims) <= MAX_VALUE ? tensorValues(t) : undefined)];
      }
      const vi = node.attrs['value_int'] ?? node.attrs['value_ints'];
      if (vi?.type === 'int') return [{ dtype: 'int64', shape: [], value: [vi.value] }];
      if (vi?.type === 'ints') return [{ dtype: 'int64', shape: [vi.value.length], value: [...vi.value] }];
      const vf = node.attrs['value_float'] ?? node.attrs['value_floats'];
      if (vf?.type === 'float') return [{ dtype: 'float32', shape: [], value: [vf.value] }];
      if (vf?.type === 'floats') return [{ dtype: 'float32', shape: [vf.value.length], value: [...vf.value] }];
      throw new Error(`${where}: unsupported Constant attributes ${Object.keys(node.attrs).join(',')}`);
    }
    case 'ConstantOfShape': {
      const target = x.value;
      if (!target) throw new Error(`${where}: shape input is not a constant`);
      const a = node.attrs['value'];
      const t = a?.type === 'tensor' ? a.value : undefined;
      const fill = t ? tensorValues(t)[0]! : 0;
      const shape = [...target];
      return [withValue(t?.dtype ?? 'float32', shape, numel(shape) <= MAX_VALUE ? new Array(numel(shape)).fill(fill) : undefined)];
    }
    case 'Range': {
      const [s, l, d] = ins.map((m) => m!.value?.[0]);
      if (s === undefined || l === undefined || d === undefined) throw new Error(`${where}: Range bounds are not constant`);
      const n = Math.max(Math.ceil((l - s) / d), 0);
      return [withValue(x.dtype, [n], small([n], Array.from({ length: n }, (_, i) => s + i * d)))];
    }
    case 'ReduceSum':
    case 'ReduceMean':
    case 'ReduceMax':
    case 'ReduceMin':
    case 'ReduceProd':
    case 'ReduceL2':
    case 'ReduceLogSumExp': {
      const axes = new Set(reduceAxes(node, meta));
      const keep = intAttr(node, 'keepdims', 1);
      const shape = x.shape.flatMap((d, i) => (axes.has(i) ? (keep ? [1] : []) : [d]));
      return [{ dtype: x.dtype, shape }];
    }
    case 'ArgMax':
    case 'ArgMin': {
      const axis = normAxis(intAttr(node, 'axis', 0), x.shape.length);
      const keep = intAttr(node, 'keepdims', 1);
      return [{ dtype: 'int64', shape: x.shape.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d])) }];
    }
    case 'Pad': {
      const pads = ins[1]?.value;
      if (!pads) throw new Error(`${where}: pads are not constant`);
      const r = x.shape.length;
      return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d + pads[i]! + pads[i + r]!) }];
    }
    default:
      throw new Error(`${where}: no shape inference for this op (autodiff supports: see src/gpu/autodiff/rules.ts)`);
  }
}
