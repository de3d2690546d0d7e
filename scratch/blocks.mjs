// Usage (after npm run build): node [--single-threaded-gc] scripts/experiments/after-draft.mjs [batch] [draft|sleep]
// CPU: is a target forward slower right after a draft model's session run? Alternates target
// forwards (1 and 5 tokens, cache of 60) with a 4-step greedy draft run (or a 2 ms sleep in its
// place), 80 times; prints median ms of each. docs/cpu.md.
import { parseConfig } from '../dist/gpu/model/config.js';
import { randomWeights } from '../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../dist/gpu/sampling/rng.js';
import { truncatedDraft } from '../dist/gpu/speculative/truncatedDraft.js';
const B = Number(process.argv[2] ?? 1);
const mode = process.argv[3] ?? 'draft';
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'x');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
const target = await loadDecoder({ config, weights, name: 't' }, { device: 'cpu' });
const cut = truncatedDraft(config, weights, 1);
const draft = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'd' }, { device: 'cpu', multiStepDraft: true, intraOpNumThreads: Number(process.env.DT ?? 1), ...(process.env.NOSPIN ? { intraOpSpinning: false } : {}) });
await draft.prepareGreedyDraft([4]);
const past = 60;
const rows = (f) => Array.from({ length: B }, f);
const input = (T, p) => ({ inputIds: rows(() => Array.from({ length: T }, (_, i) => 5 + i)), positionIds: rows(() => Array.from({ length: T }, (_, i) => p + i)), attentionMask: rows(() => Array(p + T).fill(1)) });
const keep = () => rows(() => Array.from({ length: past }, (_, i) => i));
const identity = Array.from({ length: B }, (_, i) => i);
let cache = (await target.forward(input(past, 0), target.emptyCache(B))).cache;
let dcache = (await draft.forward(input(past, 0), draft.emptyCache(B))).cache;
const times = { plainT1: [], specT5: [], nodraftT5: [], draft: [], T1afterT5: [] };
const forward = async (T, key) => {
  const c = await cache.gatherRows(identity);
  const t0 = performance.now();
  const out = await target.forward({ ...input(T, past), numLogitsToKeep: T }, c);
  if (key) times[key].push(performance.now() - t0);
  cache = await out.cache.gatherSlots(keep());
};
const drafting = async () => {
  const t0 = performance.now();
  const out = await draft.greedyDraft(input(1, past), 4, await dcache.gatherRows(identity));
  dcache = await out.cache.gatherSlots(keep());
  times.draft.push(performance.now() - t0);
};
const R = 8;
for (let block = 0; block < Number(process.env.BLOCKS ?? 60); block++) {
  const p = block % 4;
  for (let r = 0; r < R; r++) {
    const rec = r > 0;
    if (p === 0) await forward(1, rec && 'plainT1');
    else if (p === 1) { await drafting(); await forward(5, rec && 'specT5'); }
    else if (p === 2) await forward(5, rec && 'nodraftT5');
    else { await forward(5); await forward(1, rec && 'T1afterT5'); }
  }
}
const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const base = median([...times.plainT1]);
console.log(`batch ${B}:`, Object.entries(times).map(([k, a]) => `${k} ${median(a).toFixed(2)} ms (${(median(a) / base).toFixed(2)})`).join(', '));
