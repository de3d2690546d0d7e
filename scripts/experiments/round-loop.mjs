// Usage (after npm run build): node --single-threaded-gc scripts/experiments/round-loop.mjs
// CPU, batch 1, greedy, the bench spec pair (27.8M target with its deep layers scaled by 0.03,
// its first layer as the draft): a minimal speculative loop written against raw sessions, to
// measure what one session run per round (`buildRoundGraph`) buys over the engine's two runs
// (the draft's k-step graph, then the target over the k + 1 positions) — before wiring it into
// the engine. Rejected slots stay in both caches, masked (no compaction). Per prompt the three
// modes run in turn (order rotating): plain (one target run per token), separate, joint; each
// generates N tokens; the outputs must agree token for token. Environment: K (default 4),
// N (default 96), PROMPTS (default 12), ENGINE=1 (also the speculative engine, see below:
// engine0 at k = 0, engine at k = K, engineJoint at k = K in joint rounds).
import * as ort from 'onnxruntime-node';
import { buildGreedyDraftModel, buildLlamaModel } from '../../dist/gpu/model/llamaGraph.js';
import { buildRoundModel } from '../../dist/gpu/model/roundGraph.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { benchPairWeights } from './benchPair.mjs';
import { loadDecoder } from '../../dist/gpu/runtime/loadDecoder.js';
import { OrtRoundDecoder } from '../../dist/gpu/runtime/roundDecoder.js';
import { SpeculativeEngine } from '../../dist/gpu/speculative/engine.js';
import { ModelDrafter } from '../../dist/gpu/speculative/modelDrafter.js';

const K = Number(process.env.K ?? 4);
const N = Number(process.env.N ?? 96);
const { config, weights, cut } = benchPairWeights();
const opts = { graphOptimizationLevel: 'all' };
const target = await ort.InferenceSession.create(buildLlamaModel(config, { weightsAs: 'initializers', weights }), opts);
const draft = await ort.InferenceSession.create(buildGreedyDraftModel(cut.config, K, { weights: cut.weights }), { ...opts, intraOpNumThreads: 1 });
const joint = await ort.InferenceSession.create(buildRoundModel({ target: { config, weights }, draft: cut, k: K }), opts);

const V = config.vocabSize;
const i64 = (a) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
const emptyPast = (c) => Object.fromEntries(Array.from({ length: c.numLayers }, (_, i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [1, c.numKvHeads, 0, c.headDim])])).flat());
const presentsAsPast = (out, c, from = '') => Object.fromEntries(Array.from({ length: c.numLayers }, (_, i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, out[`${from}present.${i}.${kv}`]])).flat());
const argmax = (logits, row) => { let best = 0; for (let v = 1; v < V; v++) if (logits[row * V + v] > logits[row * V + best]) best = v; return best; };
const range = (a, n) => Array.from({ length: n }, (_, i) => a + i);

/** Prefills the target with prompt[0 .. n−2]; returns the sequence and the target's cache. */
async function start(prompt) {
  const pre = prompt.slice(0, -1);
  const t = await target.run({ input_ids: i64(pre), attention_mask: i64(pre.map(() => 1)), position_ids: i64(range(0, pre.length)), ...emptyPast(config) });
  return { seq: [...prompt], tPast: presentsAsPast(t, config), tMask: pre.map(() => 1) };
}

async function plain(prompt) {
  const s = await start(prompt);
  while (s.seq.length < prompt.length + N) {
    const x = s.seq.at(-1);
    const out = await target.run({ input_ids: i64([x]), attention_mask: i64([...s.tMask, 1]), position_ids: i64([s.seq.length - 1]), ...s.tPast });
    s.tPast = presentsAsPast(out, config);
    s.tMask.push(1);
    s.seq.push(argmax(out.logits.data, 0));
  }
  return s.seq.slice(prompt.length, prompt.length + N);
}

async function speculative(prompt, jointRun) {
  // the draft cache starts empty: its first round catches up on the whole prompt; dValid =
  // tokens of seq whose slots in the draft cache are valid (a prefix of seq)
  const s = { ...(await start(prompt)), dPast: emptyPast(cut.config), dMask: [], dValid: 0 };
  while (s.seq.length < prompt.length + N) {
    const n = s.seq.length;
    // draft input: seq[dValid .. n−1] (the last token in the last column)
    const dIn = s.seq.slice(s.dValid);
    const draftFeeds = { input_ids: i64(dIn), attention_mask: i64([...s.dMask, ...dIn.map(() => 1)]), position_ids: i64(range(s.dValid, dIn.length)), ...s.dPast };
    let drafts, out;
    const tMaskIn = [...s.tMask, ...Array(1 + K).fill(1)];
    const tPos = range(n - 1, 1 + K);
    if (jointRun) {
      out = await joint.run({ ...Object.fromEntries(Object.entries(draftFeeds).map(([k, v]) => [`draft.${k}`, v])), target_prefix_ids: i64([s.seq.at(-1)]), attention_mask: i64(tMaskIn), position_ids: i64(tPos), ...s.tPast });
      drafts = Array.from(out['draft.draft_tokens'].data, Number);
      s.dPast = presentsAsPast(out, cut.config, 'draft.');
    } else {
      const dOut = await draft.run(draftFeeds);
      drafts = Array.from(dOut.draft_tokens.data, Number);
      s.dPast = presentsAsPast(dOut, cut.config);
      out = await target.run({ input_ids: i64([s.seq.at(-1), ...drafts]), attention_mask: i64(tMaskIn), position_ids: i64(tPos), ...s.tPast });
    }
    s.tPast = presentsAsPast(out, config);
    // greedy acceptance: drafts while they equal the target's argmax, then the target's token
    let a = 0;
    while (a < K && argmax(out.logits.data, a) === drafts[a]) a++;
    const next = argmax(out.logits.data, a);
    // target cache: x, d1..da valid, d(a+1)..dK masked
    s.tMask.push(1, ...Array(a).fill(1), ...Array(K - a).fill(0));
    // draft cache: the input (valid), then d1..d(K−1) fed by the graph: valid while accepted
    s.dMask.push(...dIn.map(() => 1), ...range(0, K - 1).map((j) => (j < a ? 1 : 0)));
    s.dValid = n + Math.min(a, K - 1);
    s.seq.push(...drafts.slice(0, a), next);
  }
  return s.seq.slice(prompt.length, prompt.length + N);
}

// ENGINE=1 adds the speculative engine itself on the same prompts (its own decoders: the
// runtime's sessions, the draft on one thread): 'engine0' at k = 0, 'engine' at fixed k = K.
const engineModes = {};
if (process.env.ENGINE === '1') {
  const tDec = await loadDecoder({ config, weights, name: 'target' }, { device: 'cpu' });
  const dDec = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'draft' }, { device: 'cpu', multiStepDraft: true, intraOpNumThreads: 1 });
  const rounds = OrtRoundDecoder.open({ decoder: tDec, model: { config, weights } }, { decoder: dDec, model: cut });
  const viaEngine = async (prompt, k, joint = false) => {
    const e = new SpeculativeEngine({ target: tDec, drafter: k > 0 ? new ModelDrafter(dDec, undefined, undefined, joint ? { rounds } : {}) : null, k, kMax: 6, maxBatchSize: 1 });
    e.add({ requestId: 'r', promptId: 'p', groupIndex: 0, promptTokenIds: prompt, sampling: { temperature: 0, topK: 0, topP: 1, maxNewTokens: N, seed: 1, stopTokenIds: [], stopStrings: [] } });
    const [done] = await e.runToCompletion();
    await e.dispose();
    return done.tokenIds;
  };
  engineModes.engine0 = (p) => viaEngine(p, 0);
  engineModes.engine = (p) => viaEngine(p, K);
  engineModes.engineJoint = (p) => viaEngine(p, K, true);
}
const rng = new Xoshiro128(17);
const modes = { plain: (p) => plain(p), separate: (p) => speculative(p, false), joint: (p) => speculative(p, true), ...engineModes };
const names = Object.keys(modes);
const secs = Object.fromEntries(names.map((m) => [m, []]));
let mismatches = 0;
let skipped = 0;
const P = Number(process.env.PROMPTS ?? 12);
for (let p = 0; p < P; p++) {
  const prompt = Array.from({ length: 20 }, () => 3 + Math.floor(rng.next() * 4000));
  const outs = {};
  const took = {};
  for (const m of [...names.slice(p % names.length), ...names.slice(0, p % names.length)]) {
    const t0 = performance.now();
    outs[m] = await modes[m](prompt);
    took[m] = (performance.now() - t0) / 1000;
  }
  // the engine stops at EOS (token 0): a prompt counts only where every mode made N tokens
  const full = names.every((m) => outs[m].length === N);
  if (p > 0 && full) for (const m of names) secs[m].push(took[m]);
  if (!full) skipped++;
  for (const m of names) {
    if (outs[m].join() === outs.plain.slice(0, outs[m].length).join()) continue; // an EOS stop is a prefix
    mismatches++;
    const at = outs[m].findIndex((t, i) => t !== outs.plain[i]);
    if (process.env.VERBOSE) console.log(`prompt ${p}: ${m} differs from plain at token ${at} of ${outs[m].length} (${outs[m][at]} vs ${outs.plain[at]})`);
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(`k = ${K}, ${N} tokens a prompt, ${secs.plain.length} timed prompts (${skipped} left out: an EOS stop); median seconds: ${names.map((m) => `${m} ${med(secs[m]).toFixed(3)}`).join(', ')}; speedup separate ${(med(secs.plain) / med(secs.separate)).toFixed(3)}, joint ${(med(secs.plain) / med(secs.joint)).toFixed(3)}${secs.engine ? `, engine ${(med(secs.engine0) / med(secs.engine)).toFixed(3)}, engine joint ${(med(secs.engine0) / med(secs.engineJoint)).toFixed(3)} (over engine0)` : ''}; outputs differing from plain: ${mismatches}`);
