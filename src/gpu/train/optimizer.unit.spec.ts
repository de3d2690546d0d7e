import { describe, expect, it } from 'vitest';
import { AdamW, clipCoefficient, globalNorm } from './adamw.js';
import { learningRate } from './schedule.js';

describe('AdamW', () => {
  it('first step moves every weight by lr·sign(g) after decoupled decay (bias correction makes m̂ = g, v̂ = g²)', () => {
    const w = Float32Array.from([1, -2, 0.5, 3]);
    const params = new Map([['layer.weight', { dims: [2, 2], data: w }], ['norm.weight', { dims: [4], data: Float32Array.from([1, 1, 1, 1]) }]]);
    const g = Float32Array.from([0.3, -0.01, 2, -5]);
    const opt = new AdamW({ weightDecay: 0.1, eps: 0 });
    opt.update(params, new Map([['layer.weight', g], ['norm.weight', Float32Array.from([1, -1, 0.5, -0.5])]]), 0.01);
    const expected = [1, -2, 0.5, 3].map((x, i) => x * (1 - 0.01 * 0.1) - 0.01 * Math.sign(g[i]!));
    expected.forEach((e, i) => expect(params.get('layer.weight')!.data[i]).toBeCloseTo(e, 6));
    // rank-1 (norm) tensors get no decay by default
    expect(Array.from(params.get('norm.weight')!.data)).toEqual([0.99, 1.01, 0.99, 1.01].map((x) => Math.fround(x)));
  });

  it('matches a float64 closed form over several steps of a varying gradient', () => {
    const lr = 0.05, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.02;
    const opt = new AdamW({ beta1: b1, beta2: b2, eps, weightDecay: wd });
    const p = { dims: [1, 1], data: Float32Array.from([0.7]) };
    let w = 0.7, m = 0, v = 0;
    for (let t = 1; t <= 5; t++) {
      const g = Math.sin(t) * 0.4;
      opt.update(new Map([['w', p]]), new Map([['w', [g]]]), lr);
      w *= 1 - lr * wd;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      w -= (lr * (m / (1 - b1 ** t))) / (Math.sqrt(v / (1 - b2 ** t)) + eps);
      expect(p.data[0]).toBeCloseTo(w, 6);
    }
    expect(opt.step).toBe(5);
  });

  it('names the parameter whose gradient is missing', () => {
    const opt = new AdamW();
    expect(() => opt.update(new Map([['a', { dims: [1], data: new Float32Array(1) }]]), new Map(), 0.1)).toThrow(/no gradient for parameter a/);
  });
});

describe('gradient clipping', () => {
  it('global norm over all tensors and the torch clip coefficient', () => {
    expect(globalNorm([[3], [4]])).toBe(5);
    expect(clipCoefficient(5, 1)).toBeCloseTo(1 / (5 + 1e-6), 12);
    expect(clipCoefficient(0.5, 1)).toBe(1);
    expect(clipCoefficient(10, undefined)).toBe(1);
    expect(() => clipCoefficient(NaN, 1)).toThrow(/NaN/);
  });
});

describe('learning-rate schedules', () => {
  it('constant', () => expect(learningRate({ kind: 'constant', lr: 3e-4 }, 1234)).toBe(3e-4));
  it('linear warm-up then cosine to minLr', () => {
    const s = { kind: 'cosine' as const, lr: 1, warmupSteps: 4, totalSteps: 14, minLr: 0.1 };
    expect([0, 1, 2, 3].map((k) => learningRate(s, k))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(learningRate(s, 4)).toBeCloseTo(1, 12);
    expect(learningRate(s, 9)).toBeCloseTo(0.55, 12); // halfway: min + (1 − min)/2
    expect(learningRate(s, 14)).toBeCloseTo(0.1, 12);
    expect(learningRate(s, 100)).toBeCloseTo(0.1, 12);
    expect(() => learningRate({ ...s, totalSteps: 3 }, 0)).toThrow(/warmupSteps 4, totalSteps 3/);
  });
});
