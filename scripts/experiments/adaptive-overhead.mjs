// What adaptive k's own work costs an engine (docs/speculative-decoding.md, eighth session).
//
// Runs, alternating in one process (every other repetition in reverse order), the same requests
// through: a plain engine (`plain`); engines with a drafter and an adaptive k that always
// answers k = 0 — a no-op one (`akmin`: the engine's adaptive path and a free drafter's shadow
// drafts, no adaptive-k work), the real one answering 0 (`akfull`: its full work every round) —
// and the real one deciding (`akreal`); `plain2` is a second plain engine (A/A), `aknoshadow` the
// no-op one with a drafter that is not free (no shadow drafts). Prints each engine's median wall time over the
// repetitions (the first left out) and its ratio to plain's.
//
// Usage (after `npm run build`; CPU; the bench spec target/draft pair):
//   node --single-threaded-gc scripts/experiments/adaptive-overhead.mjs
// Environment: B (batch size, default 1), DRAFTER (model | ngram, default model), REPS (default
// 20), ONLY (one engine's name), NOSPIN=1 (the target's intra-op threads sleep between runs).
// Measured (2 cores): B=1 model: akmin 0.96–0.99, akfull 0.91–0.94; NOSPIN=1: every engine 25%
// slower and the gap gone; B=8 ngram: akmin 1.00, akfull 0.975, akreal 0.98. Ninth session (cheaper
// rounds; REPS=16, B=8 ngram): akmin 0.985, akfull 0.977, akreal 0.981. Tenth session: B=8 ngram
// REPS=14: plain2 1.003, akmin 0.994, aknoshadow 0.986, akfull 0.959, akreal 0.972; B=1 model
// REPS=12: plain2 0.998, akmin 0.974, aknoshadow 1.010 (for a drafter that is not free the same
// engine as akmin: the harness's spread is ±2–3%), akfull 0.960, akreal 1.028, akwarm 1.009.
import { parseConfig } from '../../dist/gpu/model/config.js';
import { randomWeights } from '../../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { generate } from '../../dist/gpu/sampling/generate.js';
import { SpeculativeEngine } from '../../dist/gpu/speculative/engine.js';
import { ModelDrafter } from '../../dist/gpu/speculative/modelDrafter.js';
import { NgramDrafter } from '../../dist/gpu/speculative/ngramDrafter.js';
import { truncatedDraft } from '../../dist/gpu/speculative/truncatedDraft.js';
import { AdaptiveK } from '../../dist/gpu/speculative/adaptiveK.js';

const B = Number(process.env.B ?? 1);
const REPS = Number(process.env.REPS ?? 20);
// The bench spec pair: an 8-layer target whose deep layers are scaled down, its first layer as the draft.
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'adaptive-overhead');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
for (const [name, t] of weights) if (/layers\.([1-9]\d*)\.(self_attn\.o_proj|mlp\.down_proj)/.test(name)) weights.set(name, { dims: t.dims, data: t.data.map((x) => x * 0.03) });
const cut = truncatedDraft(config, weights, 1);
const target = await loadDecoder({ config, weights, name: 'target' }, { device: 'cpu', ...(process.env.NOSPIN ? { intraOpSpinning: false } : {}) });
const draft = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'draft' }, { device: 'cpu', multiStepDraft: true, intraOpNumThreads: 1 });
const params = { temperature: 0, topK: 0, topP: 1 };
for (const d of [target, draft]) await generate(d, { prompts: [[1, 2, 3]], params, maxNewTokens: 4, seed: 0 });

const rng = new Xoshiro128(17 + B);
const phrases = Array.from({ length: 6 }, () => Array.from({ length: 4 }, () => 3 + Math.floor(rng.next() * 4093)));
const prompts = Array.from({ length: B === 1 ? 4 : 2 * B }, () => Array.from({ length: 5 }, () => phrases[Math.floor(rng.next() * 6)]).flat());
const lengthOf = (i) => 128 - ((i * 37) % 64);

async function wallMs(options) {
  const engine = new SpeculativeEngine({ target, maxBatchSize: B, kMax: 6, ...options });
  prompts.forEach((p, i) => engine.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: p, sampling: { ...params, maxNewTokens: lengthOf(i), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } }));
  const t0 = performance.now();
  await engine.runToCompletion();
  const ms = performance.now() - t0;
  await engine.dispose();
  return ms;
}

/** Answers k = 0 and does nothing else. */
class NoOp extends AdaptiveK {
  choose() { return 0; }
  observeRound() {}
  observeAcceptance() {}
  observeShadow() {}
}
/** Does all its work, then answers k = 0. */
class AlwaysZero extends AdaptiveK {
  choose(...args) { super.choose(...args); return 0; }
}
const kept = new AdaptiveK({ kMax: 6 });
const drafter = () => (process.env.DRAFTER === 'ngram' ? new NgramDrafter() : new ModelDrafter(draft));
/** The drafter as one that is not free: the engine never drafts in the shadow of k = 0 rounds. */
const unshadowed = () => {
  const d = drafter();
  Object.defineProperty(d, 'free', { value: false });
  return d;
};
const engines = [
  ['plain', () => ({ drafter: null, k: 0 })],
  ['plain2', () => ({ drafter: null, k: 0 })], // A/A: the harness's own spread
  ['akmin', () => ({ drafter: drafter(), k: 'auto', adaptiveK: new NoOp({ kMax: 6 }) })],
  ['aknoshadow', () => ({ drafter: unshadowed(), k: 'auto', adaptiveK: new NoOp({ kMax: 6 }) })],
  ['akfull', () => ({ drafter: drafter(), k: 'auto', adaptiveK: new AlwaysZero({ kMax: 6 }) })],
  ['akreal', () => ({ drafter: drafter(), k: 'auto', adaptiveK: new AdaptiveK({ kMax: 6 }) })],
  ['akwarm', () => ({ drafter: drafter(), k: 'auto', adaptiveK: kept })], // one AdaptiveK across the repetitions (bench spec's `warm`)
].filter(([name]) => !process.env.ONLY || name === process.env.ONLY);

const walls = new Map(engines.map(([name]) => [name, []]));
for (let rep = 0; rep < REPS; rep++) {
  for (const [name, options] of rep % 2 ? [...engines].reverse() : engines) walls.get(name).push(await wallMs(options()));
  process.stderr.write(`\rrepetition ${rep + 1}/${REPS}`);
}
process.stderr.write('\n');
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const reference = median((walls.get('plain') ?? [...walls.values()][0]).slice(1));
for (const [name, v] of walls) console.log(`${name.padEnd(10)} median ${median(v.slice(1)).toFixed(0)} ms  ×plain ${(reference / median(v.slice(1))).toFixed(3)}`);
process.exit(0);
