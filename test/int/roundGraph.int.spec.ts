import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/gpu/model/config.js';
import { randomWeights } from '../../src/gpu/model/llamaWeights.js';
import { buildLlamaModel, buildGreedyDraftModel } from '../../src/gpu/model/llamaGraph.js';
import { DRAFT_PREFIX, buildRoundGraph, buildRoundModel } from '../../src/gpu/model/roundGraph.js';
import { Xoshiro128, testSeed } from '../../src/gpu/sampling/rng.js';
import { truncatedDraft } from '../../src/gpu/speculative/truncatedDraft.js';
import type { Decoder } from '../../src/gpu/runtime/Decoder.js';
import { loadDecoder } from '../../src/gpu/runtime/loadDecoder.js';
import { OrtRoundDecoder } from '../../src/gpu/runtime/roundDecoder.js';
import { relErr, testDevice } from './modelHelpers.js';

const seed = testSeed();
const K = 3;
const providers = testDevice === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu'];

const i64 = (rows: readonly (readonly number[])[]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
const ints = (t: ort.Tensor) => Array.from(t.data as BigInt64Array, Number);

describe(`one session run per speculative round (roundGraph) on ${testDevice} (seed ${seed})`, () => {
  for (const fused of [false, true]) {
    it(`drafts and verifies as the draft graph and the target graph run one after the other (${fused ? 'fused' : 'plain'} graphs, batch 2, holes)`, async () => {
      const rng = new Xoshiro128(seed, fused ? 2 : 1);
      const config = parseConfig(
        { hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, intermediate_size: 32, vocab_size: 40, max_position_embeddings: 64, tie_word_embeddings: false },
        'round test',
      );
      const weights = randomWeights(config, rng, { std: 0.5 });
      const cut = truncatedDraft(config, weights, 1);
      const options = { executionProviders: providers, graphOptimizationLevel: 'all' as const };
      const round = await ort.InferenceSession.create(buildRoundModel({ target: { config, weights }, draft: cut, k: K, fused }), options);
      const draft = await ort.InferenceSession.create(buildGreedyDraftModel(cut.config, K, { weights: cut.weights, fused }), options);
      const target = await ort.InferenceSession.create(buildLlamaModel(config, { weightsAs: 'initializers', weights, fused }), options);

      // Caches of P slots (row 0 has a hole at slot 1); the draft catches up on 2 tokens (row 0
      // left-padded: 1), the target verifies 1 pending token + the K drafts.
      const P = 4;
      const rand = () => Math.round((rng.next() - 0.5) * 200) / 100;
      const past = (layers: number) =>
        Object.fromEntries(
          Array.from({ length: layers }, (_, i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, new ort.Tensor('float32', Float32Array.from({ length: 2 * 1 * P * 8 }, rand), [2, 1, P, 8])])).flat(),
        ) as Record<string, ort.Tensor>;
      const tok = () => 1 + Math.floor(rng.next() * 39);
      const draftFeeds = {
        input_ids: i64([[0, tok()], [tok(), tok()]]),
        attention_mask: i64([[1, 0, 1, 1, 0, 1], [1, 1, 1, 1, 1, 1]]),
        position_ids: i64([[3, 3], [4, 5]]),
        ...past(cut.config.numLayers),
      };
      const targetMask = [[1, 0, 1, 1, 1, ...Array(K).fill(1)], [1, 1, 1, 1, 1, ...Array(K).fill(1)]];
      const targetPos = [[3, ...Array.from({ length: K }, (_, j) => 4 + j)], [4, ...Array.from({ length: K }, (_, j) => 5 + j)]];
      const prefix = [[tok()], [tok()]];
      const targetPast = past(config.numLayers);

      const d = await draft.run(draftFeeds);
      const drafts = ints(d['draft_tokens']!);
      const t = await target.run({ input_ids: i64(prefix.map((p, b) => [...p, ...drafts.slice(b * K, (b + 1) * K)])), attention_mask: i64(targetMask), position_ids: i64(targetPos), ...targetPast });
      const r = await round.run({
        ...Object.fromEntries(Object.entries(draftFeeds).map(([name, v]) => [`${DRAFT_PREFIX}${name}`, v])),
        target_prefix_ids: i64(prefix),
        attention_mask: i64(targetMask),
        position_ids: i64(targetPos),
        ...targetPast,
      });

      expect(ints(r[`${DRAFT_PREFIX}draft_tokens`]!)).toEqual(drafts);
      expect(r['logits']!.dims).toEqual([2, 1 + K, 40]);
      expect(relErr(r['logits']!.data as Float32Array, t['logits']!.data as Float32Array)).toBeLessThan(1e-5);
      for (let i = 0; i < config.numLayers; i++) {
        expect(relErr(r[`present.${i}.key`]!.data as Float32Array, t[`present.${i}.key`]!.data as Float32Array)).toBeLessThan(1e-5);
      }
      expect(relErr(r[`${DRAFT_PREFIX}present.0.value`]!.data as Float32Array, d['present.0.value']!.data as Float32Array)).toBeLessThan(1e-5);
      for (const s of [round, draft, target]) await s.release();
    });
  }

  it('holds the weights a cut draft shares with its target once', () => {
    const rng = new Xoshiro128(seed, 5);
    const config = parseConfig({ hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, intermediate_size: 32, vocab_size: 40, tie_word_embeddings: false }, 'shared weights');
    const weights = randomWeights(config, rng);
    const cut = truncatedDraft(config, weights, 1);
    const graph = buildRoundGraph({ target: { config, weights }, draft: cut, k: 2 });
    const arrays = graph.initializers.map((t) => t.data);
    expect(new Set(arrays).size).toBe(arrays.length);
    for (const [name, t] of cut.weights) expect(arrays.filter((a) => a === t.data), name).toHaveLength(1);
    const names = new Set([...graph.initializers.map((t) => t.name), ...graph.inputs.map((v) => v.name), ...graph.nodes.flatMap((n) => n.outputs)]);
    expect(graph.nodes.flatMap((n) => n.inputs).filter((i) => i !== '' && !names.has(i))).toEqual([]); // every input is defined
  });

  it('refuses a draft with another vocabulary', () => {
    const c = (vocab: number) => parseConfig({ hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 1, head_dim: 8, intermediate_size: 16, vocab_size: vocab }, 'vocab test');
    const rng = new Xoshiro128(seed, 9);
    const target = { config: c(20), weights: randomWeights(c(20), rng) };
    const draft = { config: c(21), weights: randomWeights(c(21), rng) };
    expect(() => buildRoundGraph({ target, draft, k: 2 })).toThrow(/vocab_size 21 differs from the target's 20/);
  });

  it('OrtRoundDecoder: a round equals the draft decoder\'s greedyDraft then the target decoder\'s forward; it refuses what cannot be joined', async () => {
    const rng = new Xoshiro128(seed, 13);
    const config = parseConfig({ hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, intermediate_size: 32, vocab_size: 40, tie_word_embeddings: false }, 'round decoder');
    const weights = randomWeights(config, rng, { std: 0.5 });
    const cut = truncatedDraft(config, weights, 1);
    const target = await loadDecoder({ config, weights, name: 't' }, { device: testDevice });
    const draft = await loadDecoder({ ...cut, name: 'd' }, { device: testDevice, multiStepDraft: true });
    const rounds = OrtRoundDecoder.open({ decoder: target, model: { config, weights } }, { decoder: draft, model: cut });
    // Both caches after a 3-token prefill of 2 rows (row 0 left-padded by one slot).
    const prompt = { inputIds: [[0, 5, 6], [7, 8, 9]], positionIds: [[0, 0, 1], [0, 1, 2]], attentionMask: [[0, 1, 1], [1, 1, 1]] };
    const prefill = async () => ({ t: (await target.forward(prompt, target.emptyCache(2))).cache, d: (await draft.forward(prompt, draft.emptyCache(2))).cache });
    const draftIn = { inputIds: [[0, 11], [12, 13]], positionIds: [[2, 2], [3, 4]], attentionMask: [[0, 1, 1, 0, 1], [1, 1, 1, 1, 1]] };
    const targetIn = (drafts: number[][], pending: number[]) => ({
      inputIds: drafts.map((d, b) => [pending[b]!, ...d]),
      positionIds: [[3, 4, 5, 6], [5, 6, 7, 8]],
      attentionMask: [[0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]],
    });
    const apart = await prefill();
    const drafted = await draft.greedyDraft!(draftIn, K, apart.d);
    const verified = await target.forward(targetIn(drafted.tokens, [14, 15]), apart.t);
    const joint = await prefill();
    const out = await rounds.round(K, { input: targetIn([[0, 0, 0], [0, 0, 0]], [14, 15]), prefix: 1, cache: joint.t }, { input: draftIn, cache: joint.d });
    expect(out.drafts).toEqual(drafted.tokens);
    expect(out.dims).toEqual([2, 1 + K, 40]);
    expect(relErr(out.logits, verified.logits)).toBeLessThan(1e-5);
    expect([out.cache.pastLength, out.draftCache.pastLength]).toEqual([verified.cache.pastLength, drafted.cache.pastLength]);
    // the caches carry on: one more target step from each gives the same logits
    const step = { inputIds: [[3], [4]], positionIds: [[7], [9]], attentionMask: [Array(8).fill(1), Array(8).fill(1)] };
    const a = await target.forward(step, verified.cache);
    const b = await target.forward(step, out.cache);
    expect(relErr(b.logits, a.logits)).toBeLessThan(1e-5);
    expect(joint.t.alive || joint.d.alive).toBe(false); // the round consumed both caches
    // a target input that is not prefix + k columns
    await expect(rounds.round(K, { input: targetIn([[0, 0], [0, 0]], [14, 15]), prefix: 1, cache: target.emptyCache(2) }, { input: draftIn, cache: draft.emptyCache(2) })).rejects.toThrow(/3 columns per row; expected the prefix \(1\) \+ k \(3\)/);
    // decoders that are not ONNX Runtime's, or another vocabulary
    const fake = { ...target } as Decoder;
    expect(() => OrtRoundDecoder.open({ decoder: fake, model: { config, weights } }, { decoder: draft, model: cut })).toThrow(/both decoders must be OrtDecoders/);
    const other = parseConfig({ hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 1, head_dim: 8, intermediate_size: 16, vocab_size: 41 }, 'other vocab');
    const otherWeights = randomWeights(other, rng);
    const otherDecoder = await loadDecoder({ config: other, weights: otherWeights, name: 'o' }, { device: testDevice });
    expect(() => OrtRoundDecoder.open({ decoder: target, model: { config, weights } }, { decoder: otherDecoder, model: { config: other, weights: otherWeights } })).toThrow(/the draft o has vocab_size 41, the target t 40/);
    for (const c of [a.cache, b.cache, drafted.cache, out.draftCache]) c.dispose();
    await rounds.release();
    for (const d of [target, draft, otherDecoder]) await d.release();
  });
});
