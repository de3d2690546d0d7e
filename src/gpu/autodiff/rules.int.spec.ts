import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, attr } from '../graph/ir.js';
import type { Attr } from '../graph/ir.js';
import { Xoshiro128, normal } from '../sampling/rng.js';
import type { Rng } from '../sampling/rng.js';
import { fdCheck } from './fdcheck.js';
import { inferShapes, numel } from './shapes.js';
import { RULES } from './rules.js';
import { gradient } from './gradient.js';

/**
 * Every gradient rule against central finite differences in float64 on ORT's CPU provider.
 * Each case builds y = f(inputs) and the loss Σ y ⊙ R with a random constant R (so the seed
 * gradient is not uniform), then compares d loss / d input.
 */
interface Input {
  name: string;
  shape: number[];
  /** 'pos': values in [0.5, 1.5] (Log, Sqrt, Div…); 'any': N(0, 1). */
  kind?: 'pos' | 'any';
  /** Not differentiated (e.g. Clip bounds). */
  fixed?: boolean;
}
interface Case {
  name: string;
  inputs: Input[];
  build: (g: GraphBuilder, x: string[]) => string;
  /** The ops whose rules this case exercises. */
  ops: string[];
  tol?: number;
}

const i64 = (g: GraphBuilder, v: number[]) => g.constInt64(v);
let constCount = 0;
const f64 = (g: GraphBuilder, v: number[], dims: number[] = []) =>
  g.initializer(`test/c${constCount++}`, 'float64', dims, Float64Array.from(v));
const un = (op: string, kind: 'pos' | 'any' = 'any', attrs: Record<string, Attr> = {}): Case => ({
  name: op,
  ops: [op],
  inputs: [{ name: 'x', shape: [2, 3, 4], kind }],
  build: (g, [x]) => g.op1(op, [x!], attrs),
});

const CASES: Case[] = [
  un('Identity'), un('Neg'), un('Exp'), un('Log', 'pos'), un('Sqrt', 'pos'), un('Reciprocal', 'pos'),
  un('Sigmoid'), un('Tanh'), un('Relu'), un('Abs'), un('Sin'), un('Cos'),
  { ...un('Softmax', 'any', { axis: attr.int(-1) }), name: 'Softmax axis -1' },
  { ...un('Softmax', 'any', { axis: attr.int(1) }), name: 'Softmax axis 1' },
  { ...un('LogSoftmax', 'any', { axis: attr.int(-1) }), name: 'LogSoftmax axis -1' },
  { name: 'Add broadcast', ops: ['Add'], inputs: [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [4] }], build: (g, [a, b]) => g.op1('Add', [a!, b!]) },
  { name: 'Sub broadcast both', ops: ['Sub'], inputs: [{ name: 'a', shape: [2, 1, 4] }, { name: 'b', shape: [3, 1] }], build: (g, [a, b]) => g.op1('Sub', [a!, b!]) },
  { name: 'Mul broadcast', ops: ['Mul'], inputs: [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [1, 3, 1] }], build: (g, [a, b]) => g.op1('Mul', [a!, b!]) },
  { name: 'Div broadcast', ops: ['Div'], inputs: [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [2, 3, 1], kind: 'pos' }], build: (g, [a, b]) => g.op1('Div', [a!, b!]) },
  { name: 'Pow const 2', ops: ['Pow'], inputs: [{ name: 'x', shape: [3, 4] }], build: (g, [x]) => g.op1('Pow', [x!, f64(g, [2])]) },
  { name: 'Pow const 0.5', ops: ['Pow'], inputs: [{ name: 'x', shape: [3, 4], kind: 'pos' }], build: (g, [x]) => g.op1('Pow', [x!, f64(g, [0.5])]) },
  { name: 'Pow tensor', ops: ['Pow'], inputs: [{ name: 'x', shape: [3, 4], kind: 'pos' }, { name: 'p', shape: [4] }], build: (g, [x, p]) => g.op1('Pow', [x!, p!]) },
  { name: 'Max/Min', ops: ['Max', 'Min'], inputs: [{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [4] }], build: (g, [a, b]) => g.op1('Add', [g.op1('Max', [a!, b!]), g.op1('Min', [a!, g.op1('Neg', [b!])])]) },
  { name: 'Sum', ops: ['Sum'], inputs: [{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [4] }, { name: 'c', shape: [3, 1] }], build: (g, [a, b, c]) => g.op1('Sum', [a!, b!, c!]) },
  { name: 'MatMul 3D×2D', ops: ['MatMul'], inputs: [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [4, 5] }], build: (g, [a, b]) => g.op1('MatMul', [a!, b!]) },
  { name: 'MatMul batch broadcast', ops: ['MatMul'], inputs: [{ name: 'a', shape: [2, 1, 3, 4] }, { name: 'b', shape: [3, 4, 2] }], build: (g, [a, b]) => g.op1('MatMul', [a!, b!]) },
  { name: 'MatMul 2D×3D', ops: ['MatMul'], inputs: [{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [2, 4, 5] }], build: (g, [a, b]) => g.op1('MatMul', [a!, b!]) },
  {
    name: 'Gather rows (repeated indices)', ops: ['Gather'], inputs: [{ name: 'w', shape: [5, 3] }],
    build: (g, [w]) => g.op1('Gather', [w!, g.constInt64([0, 3, 3, 1, 4, 3], [2, 3])], { axis: attr.int(0) }),
  },
  { name: 'Transpose', ops: ['Transpose'], inputs: [{ name: 'x', shape: [2, 3, 4] }], build: (g, [x]) => g.op1('Transpose', [x!], { perm: attr.ints([1, 2, 0]) }) },
  { name: 'Reshape (0, -1)', ops: ['Reshape'], inputs: [{ name: 'x', shape: [2, 3, 4] }], build: (g, [x]) => g.op1('Reshape', [x!, i64(g, [0, -1, 2])]) },
  { name: 'Flatten', ops: ['Flatten'], inputs: [{ name: 'x', shape: [2, 3, 4] }], build: (g, [x]) => g.op1('Flatten', [x!], { axis: attr.int(2) }) },
  { name: 'Unsqueeze/Squeeze', ops: ['Unsqueeze', 'Squeeze'], inputs: [{ name: 'x', shape: [2, 3] }], build: (g, [x]) => g.op1('Squeeze', [g.op1('Exp', [g.op1('Unsqueeze', [x!, i64(g, [0, 2])])]), i64(g, [0])]) },
  { name: 'Expand', ops: ['Expand'], inputs: [{ name: 'x', shape: [3, 1] }], build: (g, [x]) => g.op1('Expand', [x!, i64(g, [2, 3, 4])]) },
  { name: 'Slice negative + axes', ops: ['Slice'], inputs: [{ name: 'x', shape: [2, 5, 6] }], build: (g, [x]) => g.op1('Slice', [x!, i64(g, [1, -4]), i64(g, [4, 100]), i64(g, [1, 2])]) },
  { name: 'Concat', ops: ['Concat'], inputs: [{ name: 'a', shape: [2, 1, 3] }, { name: 'b', shape: [2, 2, 3] }], build: (g, [a, b]) => g.op1('Concat', [a!, b!, a!], { axis: attr.int(-2) }) },
  {
    name: 'Split (one output unused)', ops: ['Split'], inputs: [{ name: 'x', shape: [2, 7] }],
    build: (g, [x]) => { const [p, , r] = g.op('Split', [x!, i64(g, [3, 1, 3])], { axis: attr.int(1) }, { outputs: 3 }); return g.op1('MatMul', [p!, g.op1('Transpose', [r!], { perm: attr.ints([1, 0]) })]); },
  },
  { name: 'ReduceSum keepdims 0', ops: ['ReduceSum'], inputs: [{ name: 'x', shape: [2, 3, 4] }], build: (g, [x]) => g.op1('ReduceSum', [x!, i64(g, [0, 2])], { keepdims: attr.int(0) }) },
  { name: 'ReduceMean', ops: ['ReduceMean'], inputs: [{ name: 'x', shape: [2, 3, 4] }], build: (g, [x]) => g.op1('ReduceMean', [x!], { axes: attr.ints([-1]), keepdims: attr.int(1) }) },
  { name: 'ReduceMax/Min', ops: ['ReduceMax', 'ReduceMin'], inputs: [{ name: 'x', shape: [2, 3, 4] }], build: (g, [x]) => g.op1('Add', [g.op1('ReduceMax', [x!], { axes: attr.ints([1]), keepdims: attr.int(0) }), g.op1('ReduceMin', [x!], { axes: attr.ints([1]), keepdims: attr.int(0) })]) },
  {
    name: 'Where', ops: ['Where'], inputs: [{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [4] }],
    build: (g, [a, b]) => g.op1('Where', [g.op1('Greater', [a!, f64(g, [0])]), a!, b!]),
  },
  {
    name: 'Clip with bounds', ops: ['Clip'], inputs: [{ name: 'x', shape: [3, 4] }],
    build: (g, [x]) => g.op1('Clip', [x!, f64(g, [-0.5]), f64(g, [0.7])]),
  },
  { name: 'Cast (float64 → float64, float64 → int64 path)', ops: ['Cast'], inputs: [{ name: 'x', shape: [3, 4] }], build: (g, [x]) => g.op1('Mul', [g.op1('Cast', [x!], { to: attr.int(11) }), g.op1('Cast', [g.op1('Cast', [x!], { to: attr.int(7) })], { to: attr.int(11) })]) },
  { name: 'CumSum', ops: ['CumSum'], inputs: [{ name: 'x', shape: [3, 4] }], build: (g, [x]) => g.op1('CumSum', [x!, g.constInt64([1], [])]) },
  { name: 'Trilu', ops: ['Trilu'], inputs: [{ name: 'x', shape: [4, 4] }], build: (g, [x]) => g.op1('Trilu', [x!], { upper: attr.int(0) }) },
];

function randomTensor(rng: Rng, shape: number[], kind: 'pos' | 'any'): Float64Array {
  return Float64Array.from({ length: numel(shape) }, () => (kind === 'pos' ? 0.5 + rng.next() : normal(rng)));
}

async function check(c: Case, seed: number): Promise<Record<string, number>> {
  const rng = new Xoshiro128(seed);
  const g = new GraphBuilder('case');
  const names = c.inputs.map((i) => g.input(i.name, 'float64', i.shape));
  const y = c.build(g, names);
  const yShape = inferShapes(g.build()).get(y)!.shape;
  const r = g.initializer('R', 'float64', [...yShape], randomTensor(rng, [...yShape], 'any'));
  const loss = g.op1('ReduceSum', [g.op1('Mul', [y, r])], { keepdims: attr.int(0) });
  g.output(loss, 'float64', [], 'loss');
  const feeds = Object.fromEntries(c.inputs.map((i) => [i.name, new ort.Tensor('float64', randomTensor(rng, i.shape, i.kind ?? 'any'), i.shape)]));
  const wrt = c.inputs.filter((i) => !i.fixed).map((i) => i.name);
  const res = await fdCheck(g.build(), { loss: 'loss', wrt, feeds });
  return res.relError;
}

describe('gradient rules vs central finite differences (float64, ORT CPU)', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const errors = await check(c, 1234);
      for (const [w, err] of Object.entries(errors)) expect(err, `d loss / d ${w}`).toBeLessThan(c.tol ?? 1e-7);
    });
  }

  it('covers every rule in RULES', () => {
    const covered = new Set(CASES.flatMap((c) => c.ops));
    expect(Object.keys(RULES).filter((op) => !covered.has(op))).toEqual([]);
  });

  it('an op without a rule on the loss path is an error naming the node', () => {
    const g = new GraphBuilder('norule');
    const x = g.input('x', 'float64', [3]);
    const y = g.op('Erf', [x], {}, { name: 'my_erf' })[0]!;
    g.output(g.op1('ReduceSum', [y], { keepdims: attr.int(0) }), 'float64', [], 'loss');
    expect(() => gradient(g.build(), { loss: 'loss', wrt: ['x'] })).toThrow(/no gradient rule for Erf \(node my_erf\)/);
  });

  it('a wrong rule is caught: the check can fail', async () => {
    // d/dx Σ R·x² with a deliberately perturbed input to the forward only: compare Pow 2 against Pow 2.001
    const g = new GraphBuilder('neg');
    const x = g.input('x', 'float64', [3]);
    const y = g.op1('Pow', [x, f64(g, [2.001])]);
    g.output(g.op1('ReduceSum', [y], { keepdims: attr.int(0) }), 'float64', [], 'loss');
    const feeds = { x: new ort.Tensor('float64', Float64Array.from([1, 2, 3]), [3]) };
    const res = await fdCheck(g.build(), { loss: 'loss', wrt: ['x'], feeds });
    expect(res.relError['x']).toBeLessThan(1e-7); // the real rule passes…
    // …and an analytic gradient of x² instead of x^2.001 differs by far more than the tolerance
    const wrong = [2, 4, 6];
    const err = Math.max(...wrong.map((v, i) => Math.abs(v - res.numeric['x']![i]!))) / Math.max(...res.numeric['x']!.map(Math.abs));
    expect(err).toBeGreaterThan(1e-4);
  });
});
