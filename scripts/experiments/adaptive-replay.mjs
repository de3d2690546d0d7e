// Adaptive k's own cost per round, without ONNX Runtime's noise, and a check that a change to it
// keeps its decisions (docs/speculative-decoding.md, ninth session).
//
//   record: runs the bench-spec target/draft pair through an engine with adaptive k (CPU), and
//           writes every call the engine made to AdaptiveK (method, arguments, result) to FILE.
//   replay: feeds those calls to a fresh AdaptiveK REPS times; fails if any answer differs from
//           the recorded one; prints µs per round (choose + observe* + the rest).
//
// Usage (after `npm run build`):
//   node --single-threaded-gc scripts/experiments/adaptive-replay.mjs record FILE   (B, DRAFTER=model|ngram|reuse)
//   node scripts/experiments/adaptive-replay.mjs replay FILE [FILE …]              (REPS, default 200)
import { readFileSync, writeFileSync } from 'node:fs';
import { AdaptiveK } from '../../dist/gpu/speculative/adaptiveK.js';

const METHODS = ['choose', 'observeRound', 'observeAcceptance', 'observeShadow', 'observeCatchUp', 'observeSlotCost', 'observeVerifyCurve', 'observeDraftCurve', 'wantsDraftState', 'plainRate'];
const [mode, ...files] = process.argv.slice(2);
if (mode === 'record') await record(files[0]);
else if (mode === 'replay') for (const f of files) replay(f);
else {
  console.error('usage: adaptive-replay.mjs record FILE | replay FILE…');
  process.exit(2);
}
process.exit(0);

async function record(file) {
  const { parseConfig } = await import('../../dist/gpu/model/config.js');
  const { randomWeights } = await import('../../dist/gpu/model/llamaWeights.js');
  const { loadDecoder } = await import('../../dist/gpu/runtime/loadDecoder.js');
  const { Xoshiro128 } = await import('../../dist/gpu/sampling/rng.js');
  const { SpeculativeEngine } = await import('../../dist/gpu/speculative/engine.js');
  const { ModelDrafter } = await import('../../dist/gpu/speculative/modelDrafter.js');
  const { NgramDrafter } = await import('../../dist/gpu/speculative/ngramDrafter.js');
  const { truncatedDraft } = await import('../../dist/gpu/speculative/truncatedDraft.js');
  const B = Number(process.env.B ?? 1);
  const kind = process.env.DRAFTER ?? 'model';
  const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'replay');
  const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
  for (const [name, t] of weights) if (/layers\.([1-9]\d*)\.(self_attn\.o_proj|mlp\.down_proj)/.test(name)) weights.set(name, { dims: t.dims, data: t.data.map((x) => x * 0.03) });
  const target = await loadDecoder({ config, weights, name: 'target' }, { device: 'cpu' });
  const draft = kind === 'model' ? await loadDecoder({ ...truncatedDraft(config, weights, 1), name: 'draft' }, { device: 'cpu', multiStepDraft: true, intraOpNumThreads: 1 }) : null;
  const calls = [];
  const adaptive = new AdaptiveK({ kMax: 6 });
  let depth = 0; // the engine's calls only, not AdaptiveK's calls to itself
  for (const m of METHODS) {
    const original = adaptive[m].bind(adaptive);
    adaptive[m] = (...args) => {
      const given = depth === 0 ? structuredClone(args) : null;
      depth++;
      try {
        const result = original(...args);
        if (given) calls.push([m, given, result ?? null]);
        return result;
      } finally {
        depth--;
      }
    };
  }
  const rng = new Xoshiro128(17 + B);
  const phrases = Array.from({ length: 6 }, () => Array.from({ length: 4 }, () => 3 + Math.floor(rng.next() * 4093)));
  const prompts = Array.from({ length: B === 1 ? 8 : 4 * B }, () => Array.from({ length: 5 }, () => phrases[Math.floor(rng.next() * 6)]).flat());
  const params = { temperature: 0, topK: 0, topP: 1 };
  const drafter = kind === 'model' ? new ModelDrafter(draft) : new NgramDrafter();
  const engine = new SpeculativeEngine({ target, maxBatchSize: B, k: 'auto', kMax: 6, drafter, adaptiveK: adaptive });
  prompts.forEach((p, i) => engine.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: p, sampling: { ...params, maxNewTokens: 128 - ((i * 37) % 64), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } }));
  await engine.runToCompletion();
  await engine.dispose();
  writeFileSync(file, JSON.stringify({ B, drafter: kind, calls }));
  const ks = calls.filter(([m]) => m === 'choose').map(([, , k]) => k);
  console.log(`${file}: ${calls.length} calls, ${ks.length} rounds, k counts ${JSON.stringify(ks.reduce((c, k) => ((c[k] = (c[k] ?? 0) + 1), c), {}))}`);
}

function replay(file) {
  const { B, drafter, calls } = JSON.parse(readFileSync(file, 'utf8'));
  const reps = Number(process.env.REPS ?? 200);
  const rounds = calls.filter(([m]) => m === 'choose').length;
  const spent = Object.fromEntries(METHODS.map((m) => [m, 0]));
  let best = Infinity;
  // EVICT=1: a round's forward streams the model's weights through the caches; so does this,
  // before each round (64 MiB read a cache line at a time), so that the calls run on cold caches.
  const evict = process.env.EVICT ? new Float64Array(8 << 20).fill(1) : null;
  let sink = 0;
  for (let rep = 0; rep < reps; rep++) {
    const a = new AdaptiveK({ kMax: 6 });
    let t0 = performance.now();
    for (let i = 0; i < calls.length; i++) {
      const [m, args, expected] = calls[i];
      if (evict && calls[i - 1]?.[0] === 'choose') {
        const e0 = performance.now();
        for (let j = 0; j < evict.length; j += 8) sink += evict[j];
        t0 += performance.now() - e0; // not counted
      }
      const c0 = performance.now();
      const got = a[m](...args);
      spent[m] += performance.now() - c0;
      if ((m === 'choose' || m === 'wantsDraftState') && got !== expected) throw new Error(`${file}: call ${i} (${m}) answered ${got}, recorded ${expected}`);
      if (m === 'plainRate' && (got ?? null) !== expected && Math.abs(got - expected) > 1e-9 * Math.abs(expected)) throw new Error(`${file}: call ${i} (plainRate) answered ${got}, recorded ${expected}`);
    }
    best = Math.min(best, performance.now() - t0);
    if (sink < 0) console.log(sink);
  }
  const per = (ms) => ((ms / reps / rounds) * 1000).toFixed(2);
  console.log(`${file} (B ${B}, ${drafter}): ${rounds} rounds, same decisions in ${reps} replays; µs per round: best ${((best / rounds) * 1000).toFixed(2)}, mean ${Object.entries(spent).filter(([, v]) => v > 0).map(([m, v]) => `${m} ${per(v)}`).join(', ')}`);
}
