import { afterAll, describe, expect, it } from 'vitest';
import { Xoshiro128, testSeed } from '../../src/gpu/sampling/rng.js';
import type { Rng } from '../../src/gpu/sampling/rng.js';
import { randomTinyConfig, randInt } from '../../src/gpu/model/randomModel.js';
import { randomWeights } from '../../src/gpu/model/llamaWeights.js';
import { referenceForward } from '../../src/gpu/model/reference.js';
import { loadDecoder } from '../../src/gpu/runtime/loadDecoder.js';
import type { Decoder } from '../../src/gpu/runtime/Decoder.js';
import type { LlamaConfig } from '../../src/gpu/model/config.js';
import type { WeightMap } from '../../src/gpu/weights/tensor.js';
import { logitsAt, measured, note, relErr, testDevice, tolerance } from './modelHelpers.js';

const seed = testSeed();
const ones = (n: number) => Array.from({ length: n }, () => 1);
const range = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);

async function fresh(rng: Rng): Promise<{ c: LlamaConfig; w: WeightMap; dec: Decoder }> {
  const c = randomTinyConfig(rng);
  const w = randomWeights(c, rng, { std: 0.3, normJitter: 0.2 });
  return { c, w, dec: await loadDecoder({ config: c, weights: w }, { device: testDevice }) };
}
const tokens = (rng: Rng, c: LlamaConfig, n: number) => Array.from({ length: n }, () => randInt(rng, 0, c.vocabSize - 1));

describe(`Decoder on ${testDevice} vs float64 reference (seed ${seed}; rerun with SPECSTREAM_SEED=${seed})`, () => {
  afterAll(() => console.log(`[${testDevice}] max relative error vs float64 reference:`, JSON.stringify(measured)));

  it('full forward of a batch equals the reference', async () => {
    const rng = new Xoshiro128(seed, 1);
    const { c, w, dec } = await fresh(rng);
    const B = randInt(rng, 1, 3);
    const T = randInt(rng, 2, 7);
    const ids = Array.from({ length: B }, () => tokens(rng, c, T));
    const pos = ids.map(() => range(0, T));
    const mask = ids.map(() => ones(T));
    const out = await dec.forward({ inputIds: ids, positionIds: pos, attentionMask: mask }, dec.emptyCache(B));
    const ref = referenceForward(c, w, ids, pos, mask);
    expect(out.dims).toEqual([B, T, c.vocabSize]);
    expect(out.cache.pastLength).toBe(T);
    const err = relErr(out.logits, ref.flatMap((r) => r.flatMap((v) => [...v])));
    note('full', err);
    expect(err, JSON.stringify(c)).toBeLessThan(tolerance);
    out.cache.dispose();
    await dec.release();
  });

  it('incremental decoding with the KV cache equals the full forward', async () => {
    const rng = new Xoshiro128(seed, 2);
    const { c, w, dec } = await fresh(rng);
    const seq = tokens(rng, c, 9);
    const ref = referenceForward(c, w, [seq], [range(0, 9)], [ones(9)])[0]!;
    // chunks: prefill 4, then 1, 1, then 3 (a verification-sized chunk)
    let cache = dec.emptyCache(1);
    let at = 0;
    for (const n of [4, 1, 1, 3]) {
      const out = await dec.forward({ inputIds: [seq.slice(at, at + n)], positionIds: [range(at, n)], attentionMask: [ones(at + n)] }, cache);
      for (let t = 0; t < n; t++) {
        const err = relErr(logitsAt(out.logits, out.dims, 0, t), ref[at + t]!);
        note('incremental', err);
        expect(err, `token ${at + t}`).toBeLessThan(tolerance);
      }
      cache = out.cache;
      at += n;
    }
    expect(cache.pastLength).toBe(9);
    cache.dispose();
    await dec.release();
  });

  it('a left-padded batch equals each row alone, through prefill and decoding', async () => {
    const rng = new Xoshiro128(seed, 3);
    const { c, w, dec } = await fresh(rng);
    const lens = [randInt(rng, 1, 6), randInt(rng, 1, 6), 6];
    const rows = lens.map((n) => tokens(rng, c, n));
    const L = 6;
    const ids = rows.map((r) => [...Array(L - r.length).fill(0), ...r]);
    const mask = rows.map((r) => [...Array(L - r.length).fill(0), ...ones(r.length)]);
    const pos = rows.map((r) => [...Array(L - r.length).fill(0), ...range(0, r.length)]);
    let out = await dec.forward({ inputIds: ids, positionIds: pos, attentionMask: mask }, dec.emptyCache(3));
    const next = rows.map(() => tokens(rng, c, 1));
    out = await dec.forward(
      { inputIds: next, positionIds: rows.map((r) => [r.length]), attentionMask: mask.map((m) => [...m, 1]) },
      out.cache,
    );
    rows.forEach((r, b) => {
      const alone = referenceForward(c, w, [[...r, next[b]![0]!]], [range(0, r.length + 1)], [ones(r.length + 1)])[0]!;
      const err = relErr(logitsAt(out.logits, out.dims, b, 0), alone[r.length]!);
      note('padded', err);
      expect(err, `row ${b} (length ${r.length})`).toBeLessThan(tolerance);
    });
    out.cache.dispose();
    await dec.release();
  });

  it('holes in attention_mask with explicit position_ids behave as absent', async () => {
    const rng = new Xoshiro128(seed, 4);
    const { c, w, dec } = await fresh(rng);
    const prefix = tokens(rng, c, 4);
    const rejected = tokens(rng, c, 2);
    const after = tokens(rng, c, 2);
    // prefix, then 2 draft tokens that are later rejected (masked out), then 2 accepted tokens
    let out = await dec.forward({ inputIds: [prefix], positionIds: [range(0, 4)], attentionMask: [ones(4)] }, dec.emptyCache(1));
    out = await dec.forward({ inputIds: [rejected], positionIds: [range(4, 2)], attentionMask: [ones(6)] }, out.cache);
    out = await dec.forward({ inputIds: [after], positionIds: [range(4, 2)], attentionMask: [[1, 1, 1, 1, 0, 0, 1, 1]] }, out.cache);
    const clean = referenceForward(c, w, [[...prefix, ...after]], [range(0, 6)], [ones(6)])[0]!;
    for (let t = 0; t < 2; t++) {
      const err = relErr(logitsAt(out.logits, out.dims, 0, t), clean[4 + t]!);
      note('holes', err);
      expect(err).toBeLessThan(tolerance);
    }
    // a hole inside a single prefill chunk, checked against the reference with the same mask
    const seq = tokens(rng, c, 6);
    const mask = [1, 1, 0, 1, 0, 1];
    const pos = [0, 1, 1, 2, 2, 3];
    const one = await dec.forward({ inputIds: [seq], positionIds: [pos], attentionMask: [mask] }, dec.emptyCache(1));
    const ref = referenceForward(c, w, [seq], [pos], [mask])[0]!;
    const alone = referenceForward(c, w, [[seq[0]!, seq[1]!, seq[3]!, seq[5]!]], [range(0, 4)], [ones(4)])[0]!;
    expect(relErr(ref[5]!, alone[3]!)).toBeLessThan(1e-9); // the reference agrees that holes are absent
    const err = relErr(logitsAt(one.logits, one.dims, 0, 5), ref[5]!);
    note('holes', err);
    expect(err).toBeLessThan(tolerance);
    out.cache.dispose();
    one.cache.dispose();
    await dec.release();
  });

  it('gatherRows and concatRows keep rows intact (device-side cache ops)', async () => {
    const rng = new Xoshiro128(seed, 5);
    const { c, w, dec } = await fresh(rng);
    const a = [tokens(rng, c, 5), tokens(rng, c, 5)];
    const b = [tokens(rng, c, 3)];
    const outA = await dec.forward({ inputIds: a, positionIds: [range(0, 5), range(0, 5)], attentionMask: [ones(5), ones(5)] }, dec.emptyCache(2));
    const outB = await dec.forward({ inputIds: b, positionIds: [range(0, 3)], attentionMask: [ones(3)] }, dec.emptyCache(1));
    // reorder + duplicate a's rows: [1, 0, 1]; then join with b (left-padded by 2 slots)
    const g = await outA.cache.gatherRows([1, 0, 1]);
    expect(outA.cache.alive).toBe(false);
    expect(g.batch).toBe(3);
    const joined = await dec.concatRows(g, outB.cache);
    expect([joined.batch, joined.pastLength]).toEqual([4, 5]);
    const rows = [a[1]!, a[0]!, a[1]!, b[0]!];
    const next = rows.map(() => tokens(rng, c, 1));
    const masks = [ones(6), ones(6), ones(6), [0, 0, 1, 1, 1, 1]];
    const out = await dec.forward({ inputIds: next, positionIds: rows.map((r) => [r.length]), attentionMask: masks }, joined);
    rows.forEach((r, i) => {
      const alone = referenceForward(c, w, [[...r, next[i]![0]!]], [range(0, r.length + 1)], [ones(r.length + 1)])[0]!;
      const err = relErr(logitsAt(out.logits, out.dims, i, 0), alone[r.length]!);
      note('gather/concat', err);
      expect(err, `row ${i}`).toBeLessThan(tolerance);
    });
    await expect(outB.cache.gatherRows([0])).rejects.toThrow(/consumed/);
    out.cache.dispose();
    await dec.release();
  });

  it('numLogitsToKeep returns the last positions only, with and without the graph input', async () => {
    const rng = new Xoshiro128(seed, 7);
    const c = randomTinyConfig(rng);
    const w = randomWeights(c, rng, { std: 0.3 });
    const withInput = await loadDecoder({ config: c, weights: w }, { device: testDevice });
    const ids = [tokens(rng, c, 5), tokens(rng, c, 5)];
    const input = { inputIds: ids, positionIds: [range(0, 5), range(0, 5)], attentionMask: [ones(5), ones(5)] };
    const full = await withInput.forward(input, withInput.emptyCache(2));
    const last2 = await withInput.forward({ ...input, numLogitsToKeep: 2 }, withInput.emptyCache(2));
    expect(last2.dims).toEqual([2, 2, c.vocabSize]);
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 2; t++) expect(relErr(logitsAt(last2.logits, last2.dims, b, t), logitsAt(full.logits, full.dims, b, 3 + t))).toBeLessThan(1e-6);
    }
    expect(last2.cache.pastLength).toBe(5);
    for (const o of [full, last2]) o.cache.dispose();
    await withInput.release();
  });

  it('rejects inconsistent inputs with the argument named', async () => {
    const rng = new Xoshiro128(seed, 6);
    const { c, dec } = await fresh(rng);
    const cache = dec.emptyCache(1);
    await expect(dec.forward({ inputIds: [[1, 2]], positionIds: [[0, 1]], attentionMask: [[1, 1, 1]] }, cache)).rejects.toThrow(/attentionMask.*length 3, expected 2/);
    await expect(dec.forward({ inputIds: [[c.vocabSize]], positionIds: [[0]], attentionMask: [[1]] }, cache)).rejects.toThrow(/outside the vocabulary/);
    await expect(dec.forward({ inputIds: [[1], [2]], positionIds: [[0], [0]], attentionMask: [[1], [1]] }, cache)).rejects.toThrow(/inputIds has 2 rows, expected 1/);
    expect(cache.alive).toBe(true);
    cache.dispose();
    await dec.release();
  });
});
