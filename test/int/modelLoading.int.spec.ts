import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, cpSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Xoshiro128, testSeed } from '../../src/gpu/sampling/rng.js';
import { randomTinyConfig } from '../../src/gpu/model/randomModel.js';
import { randomWeights } from '../../src/gpu/model/llamaWeights.js';
import { toHfConfig, parseConfig, ConfigError } from '../../src/gpu/model/config.js';
import { buildLlamaModel } from '../../src/gpu/model/llamaGraph.js';
import { referenceForward } from '../../src/gpu/model/reference.js';
import { writeSafetensors } from '../../src/gpu/weights/safetensors.js';
import { assertSameVocabulary, loadDecoder } from '../../src/gpu/runtime/loadDecoder.js';
import { CheckedSession } from '../../src/gpu/runtime/session.js';
import { relErr, testDevice, tolerance } from './modelHelpers.js';

const seed = testSeed();
const tmp = mkdtempSync(join(tmpdir(), 'specstream-model-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const ones = (n: number) => Array.from({ length: n }, () => 1);

describe(`loading model directories on ${testDevice} (seed ${seed})`, () => {
  it('loads config.json + model.safetensors and config.json + model.onnx to the same model', async () => {
    const rng = new Xoshiro128(seed);
    const c = randomTinyConfig(rng);
    const w = randomWeights(c, rng, { std: 0.3 });
    const st = join(tmp, 'st');
    const onnx = join(tmp, 'onnx');
    for (const d of [st, onnx]) {
      mkdirSync(d);
      writeFileSync(join(d, 'config.json'), JSON.stringify(toHfConfig(c)));
    }
    await writeSafetensors(join(st, 'model.safetensors'), w);
    writeFileSync(join(onnx, 'model.onnx'), buildLlamaModel(c, { weightsAs: 'initializers', weights: w }));
    const ids = [[1, 5, 3, 2]];
    const ref = referenceForward(c, w, ids, [[0, 1, 2, 3]], [ones(4)]).flatMap((r) => r.flatMap((v) => [...v]));
    for (const dir of [st, onnx]) {
      const dec = await loadDecoder(dir, { device: testDevice });
      expect(dec.info).toMatchObject({ vocabSize: c.vocabSize, numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim, eosTokenIds: [2] });
      const out = await dec.forward({ inputIds: ids, positionIds: [[0, 1, 2, 3]], attentionMask: [ones(4)] }, dec.emptyCache(1));
      expect(relErr(out.logits, ref)).toBeLessThan(tolerance);
      // the model.onnx written here has no num_logits_to_keep input: the decoder cuts on the CPU
      const last = await dec.forward({ inputIds: ids, positionIds: [[0, 1, 2, 3]], attentionMask: [ones(4)], numLogitsToKeep: 1 }, dec.emptyCache(1));
      expect(last.dims).toEqual([1, 1, c.vocabSize]);
      expect(relErr(last.logits, ref.slice(3 * c.vocabSize))).toBeLessThan(tolerance);
      last.cache.dispose();
      out.cache.dispose();
      await dec.release();
    }
    expect(parseConfig(toHfConfig(c))).toEqual(c);
  });

  it('loads the bundled models with their shared tokenizer', async () => {
    const policy = await loadDecoder('models/tiny-policy', { device: testDevice });
    const draft = await loadDecoder('models/tiny-draft', { device: testDevice });
    expect(policy.tokenizer).toBeDefined();
    const text = 'copy abcde= the answer';
    const enc = policy.tokenizer!.encode(text);
    expect(policy.tokenizer!.decode(enc.ids)).toBe(text);
    expect(enc.tokens.slice(0, 3)).toEqual(['copy', 'Ġa', 'b']); // task letters stay single tokens
    expect(Math.max(...enc.ids)).toBeLessThan(policy.info.vocabSize);
    // golden ids from Hugging Face `tokenizers` (Python) on the same tokenizer.json
    expect(policy.tokenizer!.encode('copy abcde=').ids).toEqual([296, 260, 101, 102, 103, 104, 64]);
    expect(policy.tokenizer!.encode('sort jihgf= the answer is done.').ids).toEqual([118, 288, 35, 109, 108, 107, 106, 105, 64, 263, 356, 321, 358, 279, 49]);
    expect(policy.tokenizer!.encode('Hello, wörld! 123 speculative  decoding\n\tend').ids).toEqual(
      [75, 298, 499, 47, 290, 198, 185, 117, 497, 36, 280, 53, 54, 266, 115, 104, 102, 120, 111, 293, 341, 35, 277, 438, 13, 12, 335],
    );
    expect(policy.info.eosTokenIds).toEqual([0]);
    expect(() => assertSameVocabulary(policy, draft)).not.toThrow();
    await policy.release();
    await draft.release();
  });

  it('fails with errors a user can act on', async () => {
    const rng = new Xoshiro128(seed, 9);
    const c = randomTinyConfig(rng);
    const w = randomWeights(c, rng);
    // not an ONNX file
    const bad = join(tmp, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'config.json'), JSON.stringify(toHfConfig(c)));
    writeFileSync(join(bad, 'model.onnx'), 'this is not protobuf');
    await expect(loadDecoder(bad)).rejects.toThrow(/model\.onnx: not a valid ONNX model/);
    // config and graph disagree
    const mis = join(tmp, 'mismatch');
    mkdirSync(mis);
    writeFileSync(join(mis, 'model.onnx'), buildLlamaModel(c, { weightsAs: 'initializers', weights: w }));
    writeFileSync(join(mis, 'config.json'), JSON.stringify({ ...toHfConfig(c), num_hidden_layers: c.numLayers + 1, vocab_size: c.vocabSize + 1 }));
    await expect(loadDecoder(mis)).rejects.toThrow(new RegExp(`num_hidden_layers: config.json ${c.numLayers + 1}, graph ${c.numLayers}[\\s\\S]*vocab_size`));
    // weights that do not fit the config
    const wrong = join(tmp, 'wrong');
    mkdirSync(wrong);
    writeFileSync(join(wrong, 'config.json'), JSON.stringify({ ...toHfConfig(c), intermediate_size: c.intermediateSize + 4 }));
    await writeSafetensors(join(wrong, 'model.safetensors'), w);
    await expect(loadDecoder(wrong)).rejects.toThrow(/model\.safetensors: weights do not match config\.json:[\s\S]*mlp\.gate_proj\.weight" has shape/);
    // empty directory, invalid config
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    await expect(loadDecoder(empty)).rejects.toThrow(/not a model directory; needs model\.onnx/);
    expect(() => parseConfig({ hidden_size: 'big' }, 'cfg.json')).toThrow(ConfigError);
    expect(() => parseConfig({ ...toHfConfig(c), hidden_size: 'big' }, 'cfg.json')).toThrow(/cfg\.json: invalid model config:\n {2}- hidden_size/);
    // different vocabularies
    const other = await loadDecoder({ config: { ...c, vocabSize: c.vocabSize + 1 }, weights: randomWeights({ ...c, vocabSize: c.vocabSize + 1 }, rng) });
    const one = await loadDecoder({ config: c, weights: w });
    expect(() => assertSameVocabulary(one, other)).toThrow(/vocabularies differ: target .* has vocab_size/);
    const copy = join(tmp, 'tok');
    cpSync('models/tiny-draft', copy, { recursive: true });
    const tj = JSON.parse(readFileSync(join(copy, 'tokenizer.json'), 'utf8'));
    const [k1, k2] = ['Ġt', 'Ġa'];
    [tj.model.vocab[k1], tj.model.vocab[k2]] = [tj.model.vocab[k2], tj.model.vocab[k1]];
    writeFileSync(join(copy, 'tokenizer.json'), JSON.stringify(tj));
    const a = await loadDecoder('models/tiny-draft');
    const b = await loadDecoder(copy);
    expect(() => assertSameVocabulary(a, b)).toThrow(/tokenizers of target .* differ:[\s\S]*"Ġ(t|a)"/);
    for (const d of [other, one, a, b]) await d.release();
  });

  it('names missing and mistyped feeds from the session inputs', async () => {
    const rng = new Xoshiro128(seed, 10);
    const c = randomTinyConfig(rng);
    const s = await CheckedSession.create(buildLlamaModel(c, { weightsAs: 'initializers', weights: randomWeights(c, rng) }), { device: 'cpu', source: 'tiny.onnx' });
    const feeds = {
      input_ids: new ort.Tensor('int32', Int32Array.from([1]), [1, 1]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from([1n]), [1, 1]),
      extra: new ort.Tensor('float32', Float32Array.from([1]), [1]),
    };
    const err = await s.run(feeds).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/tiny\.onnx: feeds do not match/);
    expect(err?.message).toMatch(/missing input "position_ids" \(int64 \[batch_size, sequence_length\]\)/);
    expect(err?.message).toMatch(/missing input "past_key_values\.0\.key"/);
    expect(err?.message).toMatch(/input "input_ids" has type int32, the model declares int64/);
    expect(err?.message).toMatch(/unexpected input "extra"/);
    await s.release();
  });
});
