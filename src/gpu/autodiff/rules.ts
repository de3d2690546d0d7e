/**
 * Gradient rules, one per ONNX op: given a node, the gradients of its outputs (undefined where
 * an output does not reach the loss) and which inputs need a gradient, emit the nodes that
 * compute the gradient of each input. Every rule here has a finite-difference test in
 * `rules.int.spec.ts`. Shapes are static (see shapes.ts), so broadcasting is undone with
 * ReduceSum over known axes.
 */
import type { Node } from '../graph/ir.js';
import { attr } from '../graph/ir.js';
import type { Emitter } from './emit.js';
import { ONNX_TYPE, isFloat } from './emit.js';
import { intAttr, intsAttr, numel, reduceAxes, sliceParams } from './shapes.js';

export interface RuleArgs {
  readonly node: Node;
  readonly e: Emitter;
  /** Gradient of each output (undefined: the output does not reach the loss). */
  readonly dy: readonly (string | undefined)[];
  /** Whether input i needs a gradient. */
  readonly needs: readonly boolean[];
}
/** Returns the gradient of each input (undefined where not needed or not differentiable). */
export type GradRule = (a: RuleArgs) => (string | undefined)[];

/** Ops whose outputs carry no gradient (integer, boolean or piecewise-constant results). */
export const NON_DIFFERENTIABLE = new Set([
  'Shape', 'Size', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Not', 'Range',
  'ConstantOfShape', 'Constant', 'ArgMax', 'ArgMin', 'Floor', 'Ceil', 'Round', 'Sign', 'IsNaN', 'IsInf', 'Mod',
]);

const shapeOf = (e: Emitter, n: string): readonly number[] => e.meta(n).shape;
const dtypeOf = (e: Emitter, n: string) => e.meta(n).dtype;

/** Elementwise binary rule: per-operand local gradient, then unbroadcast. */
function binary(local: (a: RuleArgs, g: string, i: 0 | 1) => string): GradRule {
  return (a) => {
    const g = a.dy[0]!;
    const out = shapeOf(a.e, a.node.outputs[0]!);
    return [0, 1].map((i) =>
      a.needs[i] ? a.e.unbroadcast(local(a, g, i as 0 | 1), out, shapeOf(a.e, a.node.inputs[i]!)) : undefined,
    );
  };
}

/** Unary rule: dx = f(g, x, y). */
function unary(f: (e: Emitter, g: string, x: string, y: string) => string): GradRule {
  return ({ node, e, dy, needs }) => [needs[0] ? f(e, dy[0]!, node.inputs[0]!, node.outputs[0]!) : undefined];
}

/** The gradient reshaped back to the input's shape (for pure re-layout ops). */
const reshapeBack: GradRule = ({ node, e, dy, needs }) => [
  needs[0] ? e.reshape(dy[0]!, shapeOf(e, node.inputs[0]!)) : undefined,
];

/** Transposes the last two axes of a value of rank r. */
function swapLast(e: Emitter, x: string): string {
  const r = shapeOf(e, x).length;
  const perm = Array.from({ length: r }, (_, i) => i);
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return e.op('Transpose', [x], { perm: attr.ints(perm) });
}

/** Puts a kept-dims gradient of a reduction back into the input's shape. */
function expandReduced(a: RuleArgs): { g: string; axes: number[] } {
  const { node, e } = a;
  const x = shapeOf(e, node.inputs[0]!);
  const axes = reduceAxes(node, (n) => e.meta(n));
  const keepShape = x.map((d, i) => (axes.includes(i) ? 1 : d));
  let g = a.dy[0]!;
  if (!intAttr(node, 'keepdims', 1)) g = e.reshape(g, keepShape);
  return { g: e.op('Expand', [g, e.ints(x)]), axes };
}

function softmaxAxis(node: Node, rank: number): number {
  const ax = intAttr(node, 'axis', -1);
  return ax < 0 ? ax + rank : ax;
}

export const RULES: Readonly<Record<string, GradRule>> = {
  Identity: unary((_e, g) => g),
  Neg: unary((e, g) => e.op('Neg', [g])),
  Exp: unary((e, g, _x, y) => e.op('Mul', [g, y])),
  Log: unary((e, g, x) => e.op('Div', [g, x])),
  Sqrt: unary((e, g, x, y) => e.op('Div', [e.op('Mul', [g, e.scalar(0.5, dtypeOf(e, x))]), y])),
  Reciprocal: unary((e, g, _x, y) => e.op('Neg', [e.op('Mul', [g, e.op('Mul', [y, y])])])),
  Sigmoid: unary((e, g, x, y) =>
    e.op('Mul', [g, e.op('Mul', [y, e.op('Sub', [e.scalar(1, dtypeOf(e, x)), y])])]),
  ),
  Tanh: unary((e, g, x, y) => e.op('Mul', [g, e.op('Sub', [e.scalar(1, dtypeOf(e, x)), e.op('Mul', [y, y])])])),
  Relu: unary((e, g, x) => {
    const dt = dtypeOf(e, x);
    return e.op('Where', [e.op('Greater', [x, e.scalar(0, dt)]), g, e.scalar(0, dt)]);
  }),
  Abs: unary((e, g, x) => e.op('Mul', [g, e.op('Sign', [x])])),
  Sin: unary((e, g, x) => e.op('Mul', [g, e.op('Cos', [x])])),
  Cos: unary((e, g, x) => e.op('Neg', [e.op('Mul', [g, e.op('Sin', [x])])])),

  Add: binary((_a, g) => g),
  Sub: binary((a, g, i) => (i === 0 ? g : a.e.op('Neg', [g]))),
  Mul: binary((a, g, i) => a.e.op('Mul', [g, a.node.inputs[1 - i]!])),
  Div: binary((a, g, i) => {
    const [, b] = a.node.inputs as [string, string];
    if (i === 0) return a.e.op('Div', [g, b]);
    return a.e.op('Neg', [a.e.op('Div', [a.e.op('Mul', [g, a.node.outputs[0]!]), b])]); // -g·a/b² = -g·y/b
  }),
  Pow: binary((a, g, i) => {
    const { e } = a;
    const [x, p] = a.node.inputs as [string, string];
    const y = a.node.outputs[0]!;
    if (i === 1) return e.op('Mul', [g, e.op('Mul', [y, e.op('Log', [x])])]);
    const dt = dtypeOf(e, x);
    const pv = e.meta(p).value;
    if (pv && pv.length === 1) {
      const k = pv[0]!;
      if (k === 1) return g;
      if (k === 2) return e.op('Mul', [g, e.op('Mul', [x, e.scalar(2, dt)])]);
      return e.op('Mul', [g, e.op('Mul', [e.scalar(k, dt), e.op('Pow', [x, e.scalar(k - 1, dt)])])]);
    }
    const pm1 = e.op('Sub', [p, e.scalar(1, dtypeOf(e, p))]);
    return e.op('Mul', [g, e.op('Mul', [p, e.op('Pow', [x, pm1])])]);
  }),
  Max: binary((a, g, i) => minMax(a, g, i, 'GreaterOrEqual')),
  Min: binary((a, g, i) => minMax(a, g, i, 'LessOrEqual')),
  Sum: ({ node, e, dy, needs }) =>
    node.inputs.map((x, i) => (needs[i] ? e.unbroadcast(dy[0]!, shapeOf(e, node.outputs[0]!), shapeOf(e, x)) : undefined)),

  Where: ({ node, e, dy, needs }) => {
    const [c, x, y] = node.inputs as [string, string, string];
    const g = dy[0]!;
    const out = shapeOf(e, node.outputs[0]!);
    const zero = e.scalar(0, dtypeOf(e, x));
    return [
      undefined,
      needs[1] ? e.unbroadcast(e.op('Where', [c, g, zero]), out, shapeOf(e, x)) : undefined,
      needs[2] ? e.unbroadcast(e.op('Where', [c, zero, g]), out, shapeOf(e, y)) : undefined,
    ];
  },

  Clip: ({ node, e, dy, needs }) => {
    const [x, lo, hi] = node.inputs as [string, string | undefined, string | undefined];
    let inside: string | undefined;
    if (lo) inside = e.op('GreaterOrEqual', [x, lo]);
    if (hi) {
      const le = e.op('LessOrEqual', [x, hi]);
      inside = inside ? e.op('And', [inside, le]) : le;
    }
    const dx = inside ? e.op('Where', [inside, dy[0]!, e.scalar(0, dtypeOf(e, x))]) : dy[0]!;
    return [needs[0] ? dx : undefined, undefined, undefined];
  },

  Cast: ({ node, e, dy, needs }) => {
    const x = node.inputs[0]!;
    if (!needs[0] || !isFloat(dtypeOf(e, x)) || !isFloat(dtypeOf(e, node.outputs[0]!))) return [undefined];
    return [e.op('Cast', [dy[0]!], { to: attr.int(ONNX_TYPE[dtypeOf(e, x)]) })];
  },

  MatMul: ({ node, e, dy, needs }) => {
    const [A, B] = node.inputs as [string, string];
    const g = dy[0]!;
    const sa = shapeOf(e, A);
    const sb = shapeOf(e, B);
    const sg = shapeOf(e, node.outputs[0]!);
    let dA: string | undefined;
    let dB: string | undefined;
    if (needs[0]) {
      const prod = e.op('MatMul', [g, swapLast(e, B)]);
      const shape = [...sg.slice(0, -1), sb[sb.length - 2]!];
      dA = e.unbroadcast(prod, shape, sa);
    }
    if (needs[1]) {
      if (sb.length === 2 && sa.length > 2) {
        // [.., m, k]ᵀ @ [.., m, n] summed over the batch = one [k, M]·[M, n] product (no [b, k, n] temporaries).
        const k = sa[sa.length - 1]!;
        const n = sg[sg.length - 1]!;
        const a2 = e.reshape(A, [numel(sa) / k, k]);
        const g2 = e.reshape(g, [numel(sg) / n, n]);
        dB = e.op('MatMul', [e.op('Transpose', [a2], { perm: attr.ints([1, 0]) }), g2]);
      } else {
        const prod = e.op('MatMul', [swapLast(e, A), g]);
        const shape = [...sg.slice(0, -2), sa[sa.length - 1]!, sg[sg.length - 1]!];
        dB = e.unbroadcast(prod, shape, sb);
      }
    }
    return [dA, dB];
  },

  Gather: ({ node, e, dy, needs }) => {
    if (!needs[0]) return [undefined, undefined];
    const [data, idx] = node.inputs as [string, string];
    const sd = shapeOf(e, data);
    const axis = intAttr(node, 'axis', 0);
    if (axis !== 0 && axis !== -sd.length) throw new Error(`autodiff: Gather gradient supports axis 0 only (node ${node.name}, axis ${axis})`);
    // dData = onehotᵀ · g: a [N, M] selection matrix times the [M, R] gradient rows. Deterministic
    // and built from ops every execution provider has (no scatter-add).
    const n = sd[0]!;
    const m = numel(shapeOf(e, idx));
    const r = numel(sd) / n;
    const dt = dtypeOf(e, data);
    const range = e.reshape(e.ints(Array.from({ length: n }, (_, i) => i)), [n, 1]);
    const flat = e.reshape(e.op('Cast', [idx], { to: attr.int(ONNX_TYPE.int64) }), [1, m]);
    const onehot = e.op('Cast', [e.op('Equal', [range, flat])], { to: attr.int(ONNX_TYPE[dt]) });
    const d = e.op('MatMul', [onehot, e.reshape(dy[0]!, [m, r])]);
    return [e.reshape(d, sd), undefined];
  },

  Transpose: ({ node, e, dy, needs }) => {
    const r = shapeOf(e, node.inputs[0]!).length;
    const perm = intsAttr(node, 'perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    const inv = new Array<number>(r);
    perm.forEach((p, i) => (inv[p] = i));
    return [needs[0] ? e.op('Transpose', [dy[0]!], { perm: attr.ints(inv) }) : undefined];
  },
  Reshape: (a) => [...reshapeBack(a), undefined],
  Flatten: reshapeBack,
  Squeeze: (a) => [...reshapeBack(a), undefined],
  Unsqueeze: (a) => [...reshapeBack(a), undefined],
  Expand: ({ node, e, dy, needs }) => [
    needs[0] ? e.unbroadcast(dy[0]!, shapeOf(e, node.outputs[0]!), shapeOf(e, node.inputs[0]!)) : undefined,
    undefined,
  ],

  Slice: ({ node, e, dy, needs }) => {
    if (!needs[0]) return node.inputs.map(() => undefined);
    const x = shapeOf(e, node.inputs[0]!);
    const { start, end, step } = sliceParams(node, (n) => e.meta(n));
    if (step.some((s) => s !== 1)) throw new Error(`autodiff: Slice gradient supports step 1 only (node ${node.name})`);
    const pads = [...start, ...x.map((d, i) => d - Math.max(end[i]!, start[i]!))];
    return [e.op('Pad', [dy[0]!, e.ints(pads)]), ...node.inputs.slice(1).map(() => undefined)];
  },

  Concat: ({ node, e, dy, needs }) => {
    const rank = shapeOf(e, node.inputs[0]!).length;
    const ax0 = intAttr(node, 'axis', 0);
    const axis = ax0 < 0 ? ax0 + rank : ax0;
    let off = 0;
    return node.inputs.map((x, i) => {
      const len = shapeOf(e, x)[axis]!;
      const s = off;
      off += len;
      if (!needs[i]) return undefined;
      return e.op('Slice', [dy[0]!, e.ints([s]), e.ints([s + len]), e.ints([axis])]);
    });
  },

  Split: ({ node, e, dy, needs }) => {
    if (!needs[0]) return node.inputs.map(() => undefined);
    const x = node.inputs[0]!;
    const rank = shapeOf(e, x).length;
    const ax0 = intAttr(node, 'axis', 0);
    const parts = node.outputs.map((o, i) => dy[i] ?? e.zeros(shapeOf(e, o), dtypeOf(e, x)));
    const g = parts.length === 1 ? parts[0]! : e.op('Concat', parts, { axis: attr.int(ax0 < 0 ? ax0 + rank : ax0) });
    return [g, ...node.inputs.slice(1).map(() => undefined)];
  },

  ReduceSum: (a) => [a.needs[0] ? expandReduced(a).g : undefined, undefined],
  ReduceMean: (a) => {
    if (!a.needs[0]) return [undefined];
    const { g, axes } = expandReduced(a);
    const x = shapeOf(a.e, a.node.inputs[0]!);
    const count = axes.reduce((p, i) => p * x[i]!, 1);
    return [a.e.op('Mul', [g, a.e.scalar(1 / count, dtypeOf(a.e, a.node.inputs[0]!))])];
  },
  ReduceMax: (a) => [a.needs[0] ? extremumGrad(a) : undefined, undefined],
  ReduceMin: (a) => [a.needs[0] ? extremumGrad(a) : undefined, undefined],

  Softmax: ({ node, e, dy, needs }) => {
    if (!needs[0]) return [undefined];
    const y = node.outputs[0]!;
    const axis = softmaxAxis(node, shapeOf(e, y).length);
    const gy = e.op('Mul', [dy[0]!, y]);
    const s = e.op('ReduceSum', [gy, e.ints([axis])], { keepdims: attr.int(1) });
    return [e.op('Sub', [gy, e.op('Mul', [y, s])])]; // y·(g − Σ g·y)
  },
  LogSoftmax: ({ node, e, dy, needs }) => {
    if (!needs[0]) return [undefined];
    const y = node.outputs[0]!;
    const axis = softmaxAxis(node, shapeOf(e, y).length);
    const s = e.op('ReduceSum', [dy[0]!, e.ints([axis])], { keepdims: attr.int(1) });
    return [e.op('Sub', [dy[0]!, e.op('Mul', [e.op('Exp', [y]), s])])]; // g − softmax·Σ g
  },
  CumSum: ({ node, e, dy, needs }) => [
    needs[0]
      ? e.op('CumSum', [dy[0]!, node.inputs[1]!], {
          exclusive: attr.int(intAttr(node, 'exclusive', 0)),
          reverse: attr.int(1 - intAttr(node, 'reverse', 0)),
        })
      : undefined,
    undefined,
  ],
  Trilu: ({ node, e, dy, needs }) => [
    needs[0] ? e.op('Trilu', node.inputs[1] ? [dy[0]!, node.inputs[1]] : [dy[0]!], { upper: attr.int(intAttr(node, 'upper', 1)) }) : undefined,
    undefined,
  ],
};

/** Max/Min: the gradient goes to the operand that won (the first one on ties). */
function minMax(a: RuleArgs, g: string, i: 0 | 1, cmp: 'GreaterOrEqual' | 'LessOrEqual'): string {
  const { e } = a;
  const [x0, x1] = a.node.inputs as [string, string];
  const won = e.op(cmp, [x0, x1]);
  const zero = e.scalar(0, dtypeOf(e, x0));
  return i === 0 ? e.op('Where', [won, g, zero]) : e.op('Where', [won, zero, g]);
}

/** ReduceMax/ReduceMin: the gradient is shared equally among the tied extrema. */
function extremumGrad(a: RuleArgs): string {
  const { node, e } = a;
  const x = node.inputs[0]!;
  const { g, axes } = expandReduced(a);
  const shape = shapeOf(e, x);
  const keepShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  let y = node.outputs[0]!;
  if (!intAttr(node, 'keepdims', 1)) y = e.reshape(y, keepShape);
  const mask = e.op('Cast', [e.op('Equal', [x, y])], { to: attr.int(ONNX_TYPE[dtypeOf(e, x)]) });
  const count = e.op('ReduceSum', [mask, e.ints(axes)], { keepdims: attr.int(1) });
  return e.op('Mul', [g, e.op('Div', [mask, count])]);
}
