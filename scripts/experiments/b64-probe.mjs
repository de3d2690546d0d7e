// Usage (after npm run build): node scripts/experiments/b64-probe.mjs [cpu|webgpu] [repetitions] [batch] [ngram|model]
// GPU diagnosis: are the k = 0 rounds of an adaptive engine at batch 64 slower than plain's, and why?
// Configs (alternating order, 6 reps): plain; auto machinery that never speculates; one forced
// k = 1 probe (2 rounds); forced k = 3 for 4 rounds (as in run 12's trace); ngram auto.
import { parseConfig } from '../../dist/gpu/model/config.js';
import { randomWeights } from '../../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { SpeculativeEngine } from '../../dist/gpu/speculative/engine.js';
import { AdaptiveK } from '../../dist/gpu/speculative/adaptiveK.js';
import { NgramDrafter } from '../../dist/gpu/speculative/ngramDrafter.js';
import { ModelDrafter } from '../../dist/gpu/speculative/modelDrafter.js';
import { truncatedDraft } from '../../dist/gpu/speculative/truncatedDraft.js';
import { generate } from '../../dist/gpu/sampling/generate.js';
const device = process.argv[2] ?? 'webgpu';
const reps = Number(process.argv[3] ?? 6);
const B = Number(process.argv[4] ?? 64);
const drafterKind = process.argv[5] ?? 'ngram';
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'x');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
const target = await loadDecoder({ config, weights, name: 't' }, { device });
const cut = truncatedDraft(config, weights, 1);
const draft = drafterKind === 'model' ? await loadDecoder({ config: cut.config, weights: cut.weights, name: 'd' }, { device, multiStepDraft: true, ...(device === 'cpu' ? { intraOpNumThreads: 1 } : {}) }) : null;
await draft?.prepareGreedyDraft?.([1, 2, 3, 4, 5, 6]);
const makeDrafter = () => (draft ? new ModelDrafter(draft) : new NgramDrafter());
await generate(target, { prompts: [[1, 2, 3]], params: { temperature: 0, topK: 0, topP: 1 }, maxNewTokens: 4, seed: 0 });
const rng = new Xoshiro128(81);
const phrases = Array.from({ length: 6 }, () => Array.from({ length: 4 }, () => 3 + Math.floor(rng.next() * 4093)));
const prompts = Array.from({ length: B * (B === 1 ? 4 : 1) }, () => Array.from({ length: 5 }, () => phrases[Math.floor(rng.next() * 6)]).flat());
const lengthOf = (i) => 128 - ((i * 37) % 64);
class Scripted extends AdaptiveK {
  constructor(plan) { super({ kMax: 6 }); this.plan = plan; this.n = 0; }
  choose(b) { const k = this.plan(this.n++); return k; }
}
const configs = [
  ['plain', () => ({ drafter: null, k: 0 })],
  ['auto-never', () => ({ drafter: makeDrafter(), k: 'auto', adaptiveK: new Scripted(() => 0) })],
  ['probe-k1', () => ({ drafter: makeDrafter(), k: 'auto', adaptiveK: new Scripted((n) => (n === 2 || n === 3 ? 1 : 0)) })],
  ['k3x4', () => ({ drafter: makeDrafter(), k: 'auto', adaptiveK: new Scripted((n) => (n >= 4 && n < 8 ? 3 : 0)) })],
  [`${drafterKind}-auto`, () => ({ drafter: makeDrafter(), k: 'auto' })],
];
const med = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1] : NaN);
const res = new Map(configs.map(([n]) => [n, []]));
for (let rep = 0; rep < reps; rep++) {
  const order = rep % 2 ? [...configs].reverse() : configs;
  for (const [name, make] of order) {
    const trace = [];
    const engine = new SpeculativeEngine({ target, ...make(), kMax: 6, maxBatchSize: B, onRound: (r) => trace.push(r) });
    prompts.forEach((p, i) => engine.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: p, sampling: { temperature: 0, topK: 0, topP: 1, maxNewTokens: lengthOf(i), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } }));
    const t0 = performance.now();
    await engine.runToCompletion();
    const sec = (performance.now() - t0) / 1000;
    await engine.dispose();
    const k0 = (lo, hi) => med(trace.filter((x) => x.k === 0 && x.batchSize === B && !x.joiners && x.pastLength >= lo && x.pastLength < hi).map((x) => x.verifySeconds * 1000));
    const spec = trace.filter((x) => x.k > 0).length;
    res.get(name).push(`${sec.toFixed(3)}s ${k0(20, 64).toFixed(1)}|${k0(66, 100).toFixed(1)} (${spec} spec)`);
  }
}
for (const [name, rows] of res) console.log(`${name.padEnd(11)} ${rows.join('  ')}`);
