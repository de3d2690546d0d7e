import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, attr } from './ir.js';
import { serializeModel } from './serialize.js';

describe('serializeModel', () => {
  it('produces a model ONNX Runtime loads and runs with the expected values', async () => {
    const g = new GraphBuilder('mlp');
    const x = g.input('x', 'float32', ['batch', 3]);
    const w = g.initializer('w', 'float32', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6]));
    const y = g.op1('MatMul', [x, w]);
    const s = g.op1('Softmax', [y], { axis: attr.int(-1) });
    g.output(s, 'float32', ['batch', 2], 'probs');
    const session = await ort.InferenceSession.create(serializeModel(g.build()));
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 0, -1, 0.5, 0.5, 0.5]), [2, 3]) });
    const p = out['probs']!.data as Float32Array;
    // row 0: [1-5, 2-6] = [-4,-4] → [0.5,0.5]; row 1: [4.5, 6] → softmax
    expect(p[0]).toBeCloseTo(0.5, 6);
    expect(p[1]).toBeCloseTo(0.5, 6);
    const e = Math.exp(1.5);
    expect(p[3]).toBeCloseTo(e / (1 + e), 6);
    await session.release();
  });
});
