// Usage (after npm run build): node --single-threaded-gc scripts/experiments/verify-cost.mjs
// CPU: what a target forward over T = 1 … 5 new positions costs at batch 1, alone (no draft run
// before it, no engine): the floor under `bench spec`'s `v` column. Each T runs right after a
// prefill of P slots; medians over IT interleaved repetitions. Environment: P (cache slots,
// default 80), TS (default 1,2,3,4,5), IT (default 40), FUSED=1 (the fused graph).
// Measured (2 cores, eleventh session): P = 80: T5 / T1 = 1.22 (3.76 / 3.08 ms); P = 300: 1.24
// (5.04 / 4.06 ms); fused graph, P = 80: 1.28 (3.18 / 2.49 ms). In the engine (batch 1, draft
// model, k = 4) the 5-position forward took 1.43× the plain engine's one-position forward: a draft
// run right before it adds ~0.26 ms (after-draft.mjs 1), the rest is the machine's drift.
import { parseConfig } from '../../dist/gpu/model/config.js';
import { randomWeights } from '../../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'x');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
const fused = process.env.FUSED === '1';
const target = await loadDecoder({ config, weights, name: 't' }, { device: 'cpu', fused });
const P = Number(process.env.P ?? 80);
const Ts = (process.env.TS ?? '1,2,3,4,5').split(',').map(Number);
const ids = (n, s) => Array.from({ length: n }, (_, i) => 3 + ((i * 131 + s) % 4000));
const times = Object.fromEntries(Ts.map((t) => [t, []]));
for (let it = 0; it < Number(process.env.IT ?? 40); it++) {
  for (const T of Ts) {
    const c0 = target.emptyCache(1);
    const pre = await target.forward({ inputIds: [ids(P, it)], positionIds: [Array.from({ length: P }, (_, i) => i)], attentionMask: [Array(P).fill(1)], numLogitsToKeep: 1 }, c0);
    const t0 = performance.now();
    const out = await target.forward({ inputIds: [ids(T, it + 7)], positionIds: [Array.from({ length: T }, (_, i) => P + i)], attentionMask: [Array(P + T).fill(1)] }, pre.cache);
    times[T].push(performance.now() - t0);
    out.cache.dispose();
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const base = med(times[Ts[0]]);
console.log(`fused=${fused} P=${P} ` + Ts.map((t) => `T${t} ${med(times[t]).toFixed(2)}ms (${(med(times[t]) / base).toFixed(2)})`).join('  '));
await target.release();
