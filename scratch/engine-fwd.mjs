// In-engine forward times: plain (k=0) vs k=K draft model at batch 1; forward wrapped.
import { parseConfig } from '../dist/gpu/model/config.js';
import { randomWeights, layerNames } from '../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../dist/gpu/sampling/rng.js';
import { SpeculativeEngine } from '../dist/gpu/speculative/engine.js';
import { ModelDrafter } from '../dist/gpu/speculative/modelDrafter.js';
import { NgramDrafter } from '../dist/gpu/speculative/ngramDrafter.js';
import { truncatedDraft } from '../dist/gpu/speculative/truncatedDraft.js';
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'x');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
for (let i = 1; i < 8; i++) for (const n of [layerNames(i).o, layerNames(i).down]) { const t = weights.get(n); weights.set(n, { dims: t.dims, data: t.data.map((x) => x * 0.03) }); }
const cut = truncatedDraft(config, weights, 1);
const target = await loadDecoder({ config, weights, name: 't' }, { device: 'cpu' });
const draft = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'd' }, { device: 'cpu', multiStepDraft: true, intraOpNumThreads: 1 });
const K = Number(process.env.K ?? 4);
await draft.prepareGreedyDraft?.([K]);
const rec = [];
const origF = target.forward.bind(target);
target.forward = async (input, cache) => { const t0 = performance.now(); const o = await origF(input, cache); rec.push({ T: input.inputIds[0].length, P: cache.pastLength, ms: performance.now() - t0 }); return o; };
const rng = new Xoshiro128(17);
const prompts = Array.from({ length: 4 }, () => Array.from({ length: 20 }, () => 3 + Math.floor(rng.next() * 4000)));
const med0 = (a) => { if (!a.length) return NaN; const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const res = { plain: [], spec: [], ngram: [] };
for (let it = 0; it < Number(process.env.IT ?? 6); it++) {
  for (const mode of it % 2 ? ['ngram', 'spec', 'plain'] : ['plain', 'spec', 'ngram']) {
    const k = mode === 'plain' ? 0 : K;
    const e = new SpeculativeEngine({ target, drafter: mode === 'ngram' ? new NgramDrafter() : k ? new ModelDrafter(draft) : null, k, kMax: 6, maxBatchSize: 1 });
    prompts.forEach((p, i) => e.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: p, sampling: { temperature: 0, topK: 0, topP: 1, maxNewTokens: 128 - ((i * 37) % 64), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } }));
    rec.length = 0;
    const t0 = performance.now();
    await e.runToCompletion();
    const wall = performance.now() - t0;
    const t = e.timings;
    const fw = rec.filter((r) => r.T === (k ? K + 1 : 1));
    const f1 = rec.filter((r) => r.T === 1 && r.P > 25);
    const after = (t) => rec.filter((r, i) => i > 0 && r.T === 1 && r.P > 25 && rec[i - 1].T === t && rec[i-1].P > 25).map((r) => r.ms);
    const a1 = after(1), a5 = after(K + 1);
    const a11 = rec.filter((r, i) => i > 1 && r.T === 1 && r.P > 25 && rec[i - 1].T === 1 && rec[i-2].T === 1 && rec[i-2].P > 25).map((r) => r.ms);
    res[mode].push({ wall, rounds: t.rounds, verify: t.verifySeconds * 1000 / t.rounds, draft: t.draftSeconds * 1000 / t.rounds, fwd: fw.reduce((s, r) => s + r.ms, 0) / fw.length, P: fw.reduce((s, r) => s + r.P, 0) / fw.length, nf: fw.length, f1: f1.reduce((s, r) => s + r.ms, 0) / Math.max(1, f1.length), n1: f1.length, a1: med0(a1), a5: med0(a5), a11: med0(a11), na: [a1.length, a5.length, a11.length] });
    await e.dispose();
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
for (const m of ['plain', 'spec', 'ngram']) {
  const r = res[m];
  console.log(`${m}: wall ${med(r.map((x) => x.wall)).toFixed(0)} ms, rounds ${r[0].rounds}, verify/round ${med(r.map((x) => x.verify)).toFixed(2)}, fwd ${med(r.map((x) => x.fwd)).toFixed(2)} (mean P ${med(r.map((x) => x.P)).toFixed(0)}), draft/round ${med(r.map((x) => x.draft)).toFixed(2)}, n(T=K+1) ${r[0].nf}, T1 fwd ${med(r.map((x) => x.f1)).toFixed(2)} n ${r[0].n1}; T1 after T1 ${med(r.map((x) => x.a1)).toFixed(2)} after T1,T1 ${med(r.map((x) => x.a11)).toFixed(2)}, after T${K+1} ${med(r.map((x) => x.a5)).toFixed(2)} n ${r[0].na}`);
}
