import { describe, expect, it } from 'vitest';
import { Xoshiro128, testSeed } from '../../src/gpu/sampling/rng.js';
import { randomTinyConfig, randInt } from '../../src/gpu/model/randomModel.js';
import { randomWeights } from '../../src/gpu/model/llamaWeights.js';
import { FUSED_EXTRA_OPS, LLAMA_OPS, buildLlamaGraph } from '../../src/gpu/model/llamaGraph.js';
import { referenceForward } from '../../src/gpu/model/reference.js';
import { loadDecoder } from '../../src/gpu/runtime/loadDecoder.js';
import { logitsAt, note, measured, relErr, testDevice, tolerance } from './modelHelpers.js';

const seed = testSeed();
const ones = (n: number) => Array.from({ length: n }, () => 1);
const range = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);

describe(`fused GPU variant on ${testDevice} equals the plain graph (seed ${seed})`, () => {
  it('uses fewer ops, only the documented ones', () => {
    const rng = new Xoshiro128(seed);
    const c = randomTinyConfig(rng);
    const w = randomWeights(c, rng);
    const plain = buildLlamaGraph(c, { weightsAs: 'initializers', weights: w });
    const fused = buildLlamaGraph(c, { weightsAs: 'initializers', weights: w, fused: true });
    expect(fused.nodes.length).toBeLessThan(plain.nodes.length * 0.75);
    expect(fused.nodes.map((n) => n.opType).filter((op) => !LLAMA_OPS.includes(op) && !FUSED_EXTRA_OPS.includes(op))).toEqual([]);
    expect(fused.inputs.map((i) => i.name)).toEqual(plain.inputs.map((i) => i.name));
  });

  it('leaves no initializer unused (ONNX Runtime warns about each one at load)', () => {
    const rng = new Xoshiro128(seed, 7);
    const c = randomTinyConfig(rng);
    const w = randomWeights(c, rng);
    for (const opts of [{ fused: false }, { fused: true }, { fused: true, greedyDraftSteps: 3 }, { fused: false, greedyDraftSteps: 2 }]) {
      const graph = buildLlamaGraph(c, { weightsAs: 'initializers', weights: w, kvCache: true, ...opts });
      const consumed = new Set(graph.nodes.flatMap((n) => n.inputs));
      expect(graph.initializers.map((t) => t.name).filter((name) => !consumed.has(name)), JSON.stringify(opts)).toEqual([]);
    }
  });

  it('matches the float64 reference through prefill with holes and cached decoding', async () => {
    for (let trial = 0; trial < 2; trial++) {
      const rng = new Xoshiro128(seed, 1 + trial);
      const c = randomTinyConfig(rng);
      const w = randomWeights(c, rng, { std: 0.3, normJitter: 0.2 });
      const plain = await loadDecoder({ config: c, weights: w }, { device: testDevice, fused: false });
      const fused = await loadDecoder({ config: c, weights: w }, { device: testDevice, fused: true });
      const seq = Array.from({ length: 7 }, () => randInt(rng, 0, c.vocabSize - 1));
      const mask = [1, 1, 0, 1, 1, 1, 1];
      const pos = [0, 1, 1, 2, 3, 4, 5];
      const ref = referenceForward(c, w, [seq], [pos], [mask])[0]!;
      for (const dec of [plain, fused]) {
        let out = await dec.forward({ inputIds: [seq.slice(0, 5)], positionIds: [pos.slice(0, 5)], attentionMask: [mask.slice(0, 5)] }, dec.emptyCache(1));
        for (const t of [0, 1, 3, 4]) expect(relErr(logitsAt(out.logits, out.dims, 0, t), ref[t]!)).toBeLessThan(tolerance);
        out = await dec.forward({ inputIds: [seq.slice(5)], positionIds: [pos.slice(5)], attentionMask: [mask] }, out.cache);
        for (const t of [0, 1]) {
          const err = relErr(logitsAt(out.logits, out.dims, 0, t), ref[5 + t]!);
          note(dec === fused ? 'fused' : 'plain', err);
          expect(err).toBeLessThan(tolerance);
        }
        out.cache.dispose();
        await dec.release();
      }
    }
    console.log(`[${testDevice}] fused vs plain, max relative error vs float64:`, JSON.stringify(measured));
  });
});
