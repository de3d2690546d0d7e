// Usage (after npm run build): node --single-threaded-gc scripts/experiments/k0-steady.mjs
// CPU, batch 1, the bench spec pair: are the steady plain rounds of an engine that speculates now
// and then slower than a plain engine's? Alternates (10 repetitions, every other one reversed) a
// plain engine and engines that speculate on a fixed schedule — k = 4 for 6 of every 60 rounds —
// with the draft model (`modelSched`) and the n-gram drafter (`ngramSched`), and compares the
// median target forward over one position among forwards whose 3 predecessors were 1-position
// forwards too. Measured (2 cores, eleventh session): 0.997× and 0.977× plain's — no lasting cost
// of speculation on later plain rounds (docs/speculative-decoding.md, eleventh session).
// Steady k=0 target forwards: plain engine vs engines that speculate on a fixed schedule (k=4 for 6 of every 60 rounds)
import { parseConfig } from '../../dist/gpu/model/config.js';
import { randomWeights } from '../../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { SpeculativeEngine } from '../../dist/gpu/speculative/engine.js';
import { ModelDrafter } from '../../dist/gpu/speculative/modelDrafter.js';
import { NgramDrafter } from '../../dist/gpu/speculative/ngramDrafter.js';
import { truncatedDraft } from '../../dist/gpu/speculative/truncatedDraft.js';
import { AdaptiveK } from '../../dist/gpu/speculative/adaptiveK.js';
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'x');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
for (const [name, t] of weights) if (/layers\.([1-9]\d*)\.(self_attn\.o_proj|mlp\.down_proj)/.test(name)) weights.set(name, { dims: t.dims, data: t.data.map((x) => x * 0.03) });
const cut = truncatedDraft(config, weights, 1);
const target = await loadDecoder({ config, weights, name: 'target' }, { device: 'cpu' });
const draft = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'draft' }, { device: 'cpu', multiStepDraft: true, intraOpNumThreads: 1 });
await draft.prepareGreedyDraft([1, 2, 3, 4, 5, 6]);
const rng = new Xoshiro128(18);
const phrases = Array.from({ length: 6 }, () => Array.from({ length: 4 }, () => 3 + Math.floor(rng.next() * 4093)));
const prompts = Array.from({ length: 4 }, () => Array.from({ length: 5 }, () => phrases[Math.floor(rng.next() * 6)]).flat());
let fw = null;
const fwd0 = target.forward.bind(target);
target.forward = async (i, c) => { const t0 = performance.now(); const o = await fwd0(i, c); fw?.push({ T: i.inputIds[0].length, ms: performance.now() - t0 }); return o; };
class Sched extends AdaptiveK { n = 0; choose() { return (this.n++ % 60) < 6 ? 4 : 0; } observeRound() {} observeAcceptance() {} observeShadow() {} }
const kinds = { plain: () => ({ drafter: null, k: 0 }), modelSched: () => ({ drafter: new ModelDrafter(draft), k: 'auto', adaptiveK: new Sched({ kMax: 6 }) }), ngramSched: () => ({ drafter: new NgramDrafter(), k: 'auto', adaptiveK: new Sched({ kMax: 6 }) }) };
const res = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (let rep = 0; rep < 10; rep++) for (const name of rep % 2 ? Object.keys(kinds).reverse() : Object.keys(kinds)) {
  fw = [];
  const engine = new SpeculativeEngine({ target, maxBatchSize: 1, kMax: 6, ...kinds[name]() });
  prompts.forEach((p, i) => engine.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: p, sampling: { temperature: 0, topK: 0, topP: 1, maxNewTokens: 128 - ((i * 37) % 64), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } }));
  await engine.runToCompletion();
  await engine.dispose();
  // steady T=1 forwards: the previous 3 forwards were T=1 too
  const steady = fw.filter((f, i) => f.T === 1 && i >= 3 && fw[i - 1].T === 1 && fw[i - 2].T === 1 && fw[i - 3].T === 1).map((f) => f.ms);
  res[name].push(med(steady));
}
const base = res.plain;
console.log(Object.entries(res).map(([k, v]) => `${k}: ${med(v).toFixed(3)} ms (ratio to plain, per-rep median ${med(v.map((x, i) => x / base[i])).toFixed(3)})`).join('\n'));
