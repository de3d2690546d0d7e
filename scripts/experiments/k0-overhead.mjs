// Usage (after npm run build): node scripts/experiments/k0-overhead.mjs
// CPU, batch 1: are the k = 0 rounds of a draft-model engine dearer than plain's? Alternates plain,
// an adaptive engine that never speculates, a fixed k = 4 draft-model run, and real adaptive k (5 reps).
// Is plain decoding slower right after a draft-model engine ran (residue of the draft session)?
import { parseConfig } from '../../dist/gpu/model/config.js';
import { randomWeights } from '../../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { SpeculativeEngine } from '../../dist/gpu/speculative/engine.js';
import { ModelDrafter } from '../../dist/gpu/speculative/modelDrafter.js';
import { AdaptiveK } from '../../dist/gpu/speculative/adaptiveK.js';
import { truncatedDraft } from '../../dist/gpu/speculative/truncatedDraft.js';
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'x');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
const target = await loadDecoder({ config, weights, name: 't' }, { device: 'cpu' });
const cut = truncatedDraft(config, weights, 1);
const draft = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'd' }, { device: 'cpu', multiStepDraft: true, intraOpNumThreads: 1 });
await draft.prepareGreedyDraft([1, 2, 3, 4, 5, 6]);
const rng = new Xoshiro128(81);
const prompts = Array.from({ length: 4 }, () => Array.from({ length: 20 }, () => 3 + Math.floor(rng.next() * 4093)));
class Never extends AdaptiveK { choose() { return 0; } }
const run = async (name, opts) => {
  const rounds = [];
  const engine = new SpeculativeEngine({ target, maxBatchSize: 1, kMax: 6, onRound: (r) => rounds.push(r), ...opts });
  prompts.forEach((p, i) => engine.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: p, sampling: { temperature: 0, topK: 0, topP: 1, maxNewTokens: 128 - ((i * 37) % 64), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } }));
  const t0 = performance.now();
  await engine.runToCompletion();
  const ms = performance.now() - t0;
  await engine.dispose();
  const v = rounds.filter((r) => r.k === 0 && !r.joiners).map((r) => r.verifySeconds * 1000).sort((a, b) => a - b);
  return `${name} ${ms.toFixed(0)}ms k0-verify-med ${v.length ? v[v.length >> 1].toFixed(3) : "-"}`;
};
const out = [];
for (let rep = 0; rep < 5; rep++) {
  out.push(await run('plain', { drafter: null, k: 0 }));
  out.push(await run('never', { drafter: new ModelDrafter(draft), k: 'auto', adaptiveK: new Never({ kMax: 6 }) }));
  out.push(await run('plain', { drafter: null, k: 0 }));
  out.push(await run('model4', { drafter: new ModelDrafter(draft), k: 4 }));
  out.push(await run('plain-after', { drafter: null, k: 0 }));
  out.push(await run('never-after', { drafter: new ModelDrafter(draft), k: 'auto', adaptiveK: new Never({ kMax: 6 }) }));
  out.push(await run('realauto', { drafter: new ModelDrafter(draft), k: 'auto' }));
  console.log(out.splice(0).join(' | '));
}
