import { describe, expect, it } from 'vitest';
import { Xoshiro128, testSeed } from './rng.js';
import { SamplingParamError, Temperature, TopK, TopP, logSoftmaxAt, softmax } from './processors.js';
import { processedProbs, sampleFrom, sampleToken } from './sample.js';

const seed = testSeed();

describe(`sampling (seed ${seed})`, () => {
  const logits = Float32Array.from([2, 1, 0.5, 3, -1]);

  it('validates parameters in the constructors and throws', () => {
    expect(() => new Temperature(0)).toThrow(SamplingParamError);
    expect(() => new Temperature(-1)).toThrow(/temperature/);
    expect(() => new TopK(0)).toThrow(/top-k/);
    expect(() => new TopK(1.5)).toThrow(/top-k/);
    expect(() => new TopP(0)).toThrow(/top-p/);
    expect(() => new TopP(1.2)).toThrow(/top-p/);
    expect(() => processedProbs(logits, { temperature: Number.NaN })).toThrow(/temperature/);
  });

  it('temperature, top-k and top-p produce the expected distributions', () => {
    const t = processedProbs(logits, { temperature: 0.5 });
    const ref = softmax(Array.from(logits, (x) => x / 0.5));
    t.forEach((p, i) => expect(p).toBeCloseTo(ref[i]!, 12));
    // top-2 keeps indices 3 (3) and 0 (2)
    const k = processedProbs(logits, { temperature: 1, topK: 2 });
    const e = Math.exp(1);
    expect([...k]).toEqual([expect.closeTo(1 / (1 + e), 12), 0, 0, expect.closeTo(e / (1 + e), 12), 0]);
    // probabilities of softmax(logits): 3 → .61, 2 → .22, 1 → .08 …; top-p 0.7 keeps {3, 0}
    const full = softmax(logits);
    const p = processedProbs(logits, { temperature: 1, topP: 0.7 });
    expect(p[3]).toBeCloseTo(full[3]! / (full[3]! + full[0]!), 12);
    expect(p[1]).toBe(0);
    // top-p smaller than the top token's probability still keeps one token
    expect([...processedProbs(logits, { temperature: 1, topP: 0.01 })]).toEqual([0, 0, 0, 1, 0]);
    // greedy: point mass on the argmax
    expect([...processedProbs(logits, { temperature: 0 })]).toEqual([0, 0, 0, 1, 0]);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('reports the logprob of the distribution sampled from (raw log-softmax for greedy)', () => {
    const rng = new Xoshiro128(seed);
    const g = sampleToken(logits, { temperature: 0 }, rng);
    expect(g.token).toBe(3);
    expect(g.logprob).toBeCloseTo(logSoftmaxAt(logits, 3), 12);
    const params = { temperature: 0.7, topK: 3, topP: 0.9 };
    const s = sampleToken(logits, params, rng);
    expect(s.logprob).toBeCloseTo(Math.log(processedProbs(logits, params)[s.token]!), 12);
    expect([0, 3, 1]).toContain(s.token);
  });

  it('samples with the right frequencies and reproducibly from a seed', () => {
    const p = Float64Array.from([0.1, 0.6, 0, 0.3]);
    const rng = new Xoshiro128(seed);
    const counts = [0, 0, 0, 0];
    const N = 20000;
    for (let i = 0; i < N; i++) counts[sampleFrom(p, rng)]!++;
    expect(counts[2]).toBe(0);
    counts.forEach((c, i) => expect(Math.abs(c / N - p[i]!)).toBeLessThan(0.015)); // > 4 sigma
    const a = new Xoshiro128(seed, 3);
    const b = new Xoshiro128(seed, 3);
    const c = new Xoshiro128(seed, 4);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
  });

  it('xoshiro128** matches its published output stream', () => {
    // reference: xoshiro128** with state (1, 2, 3, 4) → 11520, 0, 5927040, 70819200 (first outputs)
    const r = new Xoshiro128(0);
    Object.assign(r, { a: 1, b: 2, c: 3, d: 4 });
    expect([r.nextUint32(), r.nextUint32(), r.nextUint32(), r.nextUint32()]).toEqual([11520, 0, 5927040, 70819200]);
  });
});
