import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { Xoshiro128, testSeed } from '../../src/gpu/sampling/rng.js';
import { randomTinyConfig, randInt } from '../../src/gpu/model/randomModel.js';
import { randomWeights } from '../../src/gpu/model/llamaWeights.js';
import { LLAMA_OPS, buildLlamaGraph, buildLlamaModel } from '../../src/gpu/model/llamaGraph.js';
import { referenceForward } from '../../src/gpu/model/reference.js';

const seed = testSeed();

describe(`llama graph vs float64 reference (seed ${seed}; rerun with SPECSTREAM_SEED=${seed})`, () => {
  it('uses only the documented ops', () => {
    const rng = new Xoshiro128(seed);
    const c = randomTinyConfig(rng);
    const g = buildLlamaGraph(c, { weightsAs: 'inputs' });
    const used = new Set(g.nodes.map((n) => n.opType));
    expect([...used].filter((op) => !LLAMA_OPS.includes(op))).toEqual([]);
    expect(g.inputs.map((i) => i.name).slice(0, 3)).toEqual(['input_ids', 'attention_mask', 'position_ids']);
    expect(g.outputs[0]!.name).toBe('logits');
  });

  it('ORT full forward equals the reference within 1e-4 relative', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const rng = new Xoshiro128(seed, trial);
      const c = randomTinyConfig(rng);
      const w = randomWeights(c, rng, { std: 0.3, normJitter: 0.2 });
      const session = await ort.InferenceSession.create(buildLlamaModel(c, { weightsAs: 'initializers', weights: w }));
      const B = randInt(rng, 1, 3);
      const T = randInt(rng, 1, 6);
      const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => randInt(rng, 0, c.vocabSize - 1)));
      const pos = ids.map((r) => r.map((_, t) => t));
      const mask = ids.map((r) => r.map(() => 1));
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.flat().map(BigInt)), [B, T]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(pos.flat().map(BigInt)), [B, T]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask.flat().map(BigInt)), [B, T]),
      };
      for (let l = 0; l < c.numLayers; l++) {
        for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [B, c.numKvHeads, 0, c.headDim]);
      }
      const out = await session.run(feeds);
      const logits = out['logits']!.data as Float32Array;
      const ref = referenceForward(c, w, ids, pos, mask).flatMap((r) => r.flatMap((v) => [...v]));
      const scale = Math.max(...ref.map(Math.abs));
      const err = Math.max(...ref.map((r, i) => Math.abs(r - logits[i]!)));
      expect(err / scale, `config ${JSON.stringify(c)}`).toBeLessThan(1e-4);
      await session.release();
    }
  });
});
