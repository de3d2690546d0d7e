import { describe, expect, it } from 'vitest';
import { Xoshiro128, testSeed } from '../../src/gpu/sampling/rng.js';
import { randomTinyConfig, randInt } from '../../src/gpu/model/randomModel.js';
import { randomWeights } from '../../src/gpu/model/llamaWeights.js';
import { referenceForward } from '../../src/gpu/model/reference.js';
import { loadDecoder } from '../../src/gpu/runtime/loadDecoder.js';
import { generate } from '../../src/gpu/sampling/generate.js';
import { processedProbs } from '../../src/gpu/sampling/sample.js';
import { logSoftmaxAt } from '../../src/gpu/sampling/processors.js';
import { testDevice } from './modelHelpers.js';

const seed = testSeed();

describe(`generate on ${testDevice} (seed ${seed}; rerun with SPECSTREAM_SEED=${seed})`, () => {
  it('reports logprobs of the distribution sampled from, matching the float64 reference', async () => {
    const rng = new Xoshiro128(seed);
    const c = randomTinyConfig(rng);
    const w = randomWeights(c, rng, { std: 0.3 });
    const dec = await loadDecoder({ config: c, weights: w }, { device: testDevice });
    const prompts = [[1, 3, 4], [5], [6, 7, 8, 9, 10]];
    for (const params of [{ temperature: 0 }, { temperature: 0.8, topK: 5, topP: 0.9 }]) {
      const res = await generate(dec, { prompts, params, maxNewTokens: 5, seed, eosTokenIds: [] });
      res.forEach((r, i) => {
        expect(r.tokenIds).toHaveLength(5);
        expect(r.finishReason).toBe('length');
        const seq = [...prompts[i]!, ...r.tokenIds];
        const ref = referenceForward(c, w, [seq], [seq.map((_, t) => t)], [seq.map(() => 1)])[0]!;
        r.tokenIds.forEach((tok, j) => {
          const logits = ref[prompts[i]!.length - 1 + j]!;
          const expected = params.temperature === 0 ? logSoftmaxAt(logits, tok) : Math.log(processedProbs(logits, params)[tok]!);
          expect(Math.abs(r.logprobs[j]! - expected), `row ${i} token ${j} ${JSON.stringify(params)}`).toBeLessThan(1e-3);
        });
      });
    }
    await dec.release();
  });

  it("a row's output does not depend on the rest of its batch; stops per row", async () => {
    const rng = new Xoshiro128(seed, 1);
    const c = randomTinyConfig(rng);
    const dec = await loadDecoder({ config: c, weights: randomWeights(c, rng, { std: 0.3 }) }, { device: testDevice });
    const prompts = Array.from({ length: 4 }, () => Array.from({ length: randInt(rng, 1, 5) }, () => randInt(rng, 0, c.vocabSize - 1)));
    const params = { temperature: 1 };
    const all = await generate(dec, { prompts, params, maxNewTokens: 6, seed, eosTokenIds: [] });
    const third = await generate(dec, { prompts: [prompts[2]!], params, maxNewTokens: 6, seed, streamOffset: 2, eosTokenIds: [] });
    expect(third[0]!.tokenIds).toEqual(all[2]!.tokenIds);
    // EOS = the second token row 0 produced: row 0 stops there (EOS kept), other rows go on
    const eos = all[0]!.tokenIds[1]!;
    const stopped = await generate(dec, { prompts, params, maxNewTokens: 6, seed, eosTokenIds: [eos] });
    const firstEos = all[0]!.tokenIds.indexOf(eos);
    expect(stopped[0]!.tokenIds).toEqual(all[0]!.tokenIds.slice(0, firstEos + 1));
    expect(stopped[0]!.finishReason).toBe('stop');
    stopped.forEach((r, i) => {
      const k = all[i]!.tokenIds.indexOf(eos);
      expect(r.tokenIds).toEqual(k < 0 ? all[i]!.tokenIds : all[i]!.tokenIds.slice(0, k + 1));
      expect(r.finishReason).toBe(k < 0 ? 'length' : 'stop');
    });
    // one limit per prompt: each row stops at its own, the same tokens as far as it goes
    const limits = [2, 6, 1, 4];
    const ragged = await generate(dec, { prompts, params, maxNewTokens: limits, seed, eosTokenIds: [] });
    ragged.forEach((r, i) => expect(r.tokenIds).toEqual(all[i]!.tokenIds.slice(0, limits[i])));
    await expect(generate(dec, { prompts, params, maxNewTokens: [2, 3], seed })).rejects.toThrow(/2 limits for 4 prompts/);
    await expect(generate(dec, { prompts, params, maxNewTokens: [2, 3, 0, 1], seed })).rejects.toThrow(/maxNewTokens\[2\] must be an integer ≥ 1; got 0/);
    await dec.release();
  });

  it('stops at stop strings and cuts the text before them', async () => {
    const dec = await loadDecoder('models/tiny-policy', { device: testDevice });
    const prompt = dec.tokenizer!.encode('copy abc=').ids;
    const free = await generate(dec, { prompts: [prompt], params: { temperature: 1 }, maxNewTokens: 12, seed, eosTokenIds: [] });
    const text = free[0]!.text!;
    const stop = [...text.trim()].at(-1)!; // a character the free run produces
    expect(stop).toBeDefined();
    const res = await generate(dec, { prompts: [prompt], params: { temperature: 1 }, maxNewTokens: 12, seed, eosTokenIds: [], stopStrings: [stop] });
    expect(res[0]!.finishReason).toBe('stop');
    expect(res[0]!.text).toBe(text.slice(0, text.indexOf(stop)));
    expect(free[0]!.tokenIds.slice(0, res[0]!.tokenIds.length)).toEqual(res[0]!.tokenIds);
    await expect(generate(dec, { prompts: [prompt], params: { temperature: -1 }, maxNewTokens: 2, seed })).rejects.toThrow(/temperature/);
    await dec.release();
  });
});
