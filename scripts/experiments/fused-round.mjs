// Usage (after npm run build): node --single-threaded-gc scripts/experiments/fused-round.mjs
// CPU, batch 1, the bench spec pair (benchPair.mjs: 27.8M target, its first layer as the draft): does one
// session run per speculative round — the draft's k greedy steps and the target's pass over the
// k + 1 positions in ONE ONNX graph — cost less than the engine's two runs (draft, then verify)?
// The combined graph is `buildRoundGraph` (src/gpu/model/roundGraph.ts): the two builder graphs
// side by side, the target's input ids = Concat(last token, draft_tokens). Fixed feeds (the caches are not grown):
// it times the session runs only, no engine. Per round, medians over IT interleaved blocks:
//   plain     one target run over 1 position (the reference step)
//   draft     the k-step draft run alone;  verify  the target run over k + 1 positions alone
//   separate  draft run, then the verify run (what the engine does)
//   fused     the combined run
// Environment: K (default 4), P (cached slots, default 64), IT (default 30 blocks of 12 rounds),
// DEVICE=webgpu (the fused graph variant there, as the decoder's default; outputs come back to the CPU),
// FUSED=0|1 forces the graph variant.
import * as ort from 'onnxruntime-node';
import { buildLlamaGraph } from '../../dist/gpu/model/llamaGraph.js';
import { serializeModel } from '../../dist/gpu/graph/serialize.js';
import { buildRoundGraph } from '../../dist/gpu/model/roundGraph.js';
import { benchPairWeights } from './benchPair.mjs';

const K = Number(process.env.K ?? 4);
const P = Number(process.env.P ?? 64);
const { config, weights, cut } = benchPairWeights();
const device = process.env.DEVICE ?? 'cpu';
const variant = { fused: process.env.FUSED ? process.env.FUSED === '1' : device === 'webgpu' };
const target = buildLlamaGraph(config, { weightsAs: 'initializers', weights, ...variant });
const draft = buildLlamaGraph(cut.config, { weightsAs: 'initializers', weights: cut.weights, greedyDraftSteps: K, ...variant });

// the joined graph: src/gpu/model/roundGraph.ts (inputs draft.* and target_prefix_ids)
const fused = buildRoundGraph({ target: { config, weights }, draft: cut, k: K, ...variant });
const opts = { graphOptimizationLevel: 'all', executionProviders: device === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu'] };
const sTarget = await ort.InferenceSession.create(serializeModel(target), opts);
const sDraft = await ort.InferenceSession.create(serializeModel(draft), { ...opts, ...(device === 'cpu' ? { intraOpNumThreads: 1 } : {}) });
const sFused = await ort.InferenceSession.create(serializeModel(fused), opts);

const i64 = (a, dims) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);
const pastFeeds = (c, prefix = '') => {
  const f = {};
  for (let i = 0; i < c.numLayers; i++) for (const kv of ['key', 'value']) f[`${prefix}past_key_values.${i}.${kv}`] = new ort.Tensor('float32', Float32Array.from({ length: c.numKvHeads * P * c.headDim }, () => Math.random() - 0.5), [1, c.numKvHeads, P, c.headDim]);
  return f;
};
const range = (a, n) => Array.from({ length: n }, (_, i) => a + i);
const targetPast = pastFeeds(config);
const draftPast = pastFeeds(cut.config);
const plainFeeds = { input_ids: i64([7], [1, 1]), attention_mask: i64(Array(P + 1).fill(1), [1, P + 1]), position_ids: i64([P], [1, 1]), ...targetPast };
const verifyFeeds = { input_ids: i64(range(7, K + 1), [1, K + 1]), attention_mask: i64(Array(P + K + 1).fill(1), [1, P + K + 1]), position_ids: i64(range(P, K + 1), [1, K + 1]), ...targetPast };
const draftFeeds = { input_ids: i64([7], [1, 1]), attention_mask: i64(Array(P + 1).fill(1), [1, P + 1]), position_ids: i64([P], [1, 1]), ...draftPast };
const fusedFeeds = {
  ...Object.fromEntries(Object.entries(draftFeeds).map(([k, v]) => [`draft.${k}`, v])),
  target_prefix_ids: i64([7], [1, 1]), attention_mask: verifyFeeds.attention_mask, position_ids: verifyFeeds.position_ids, ...targetPast,
};
const cases = {
  plain: async () => sTarget.run(plainFeeds),
  draft: async () => sDraft.run(draftFeeds),
  verify: async () => sTarget.run(verifyFeeds),
  separate: async () => { await sDraft.run(draftFeeds); await sTarget.run(verifyFeeds); },
  fused: async () => sFused.run(fusedFeeds),
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const IT = Number(process.env.IT ?? 30);
for (let it = 0; it < IT; it++) {
  const entries = Object.entries(cases);
  // the case order rotates every block: none always follows the same other session
  for (const [name, run] of [...entries.slice(it % entries.length), ...entries.slice(0, it % entries.length)]) {
    // each case runs 12 rounds back to back, the last 8 timed: the state a steady engine is in
    // (and the other sessions' intra-op threads have stopped spinning)
    for (let j = 0; j < 12; j++) { const t0 = performance.now(); await run(); if (j >= 4 && it >= 2) times[name].push(performance.now() - t0); }
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, med(v)]));
const c = m.draft / K / m.plain;
const ideal = m.plain * (1 + K * c);
console.log(`${device}, k = ${K}, ${P} cached slots; medians (ms): ${Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
console.log(`c = ${c.toFixed(3)}; a round as S prices it, plain·(1 + k·c) = ${ideal.toFixed(2)} ms; separate ${(m.separate / ideal).toFixed(3)}×, fused ${(m.fused / ideal).toFixed(3)}× of it (verify alone ${(m.verify / m.plain).toFixed(3)} plain steps)`);
