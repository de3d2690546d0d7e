// Usage (after npm run build): node --single-threaded-gc scripts/experiments/op-profile.mjs
// CPU: ONNX Runtime's own profile (enableProfiling) of the bench spec target's forward over 1 and
// over 5 new positions (batch 1, 80 cached slots, 60 runs each, the first 20 left out): kernel
// time per op type. FUSED=1: the fused graph. Measured (2 cores, eleventh session; profiling
// inflates every run): MatMul 2.16 ms at T = 1, 3.22 ms at T = 5 (+50%; MLAS's one-row path is
// cheaper than its GEMM for 5 rows), every other op type together +0.3 ms — verifying 5
// positions costs more than one on a CPU because of the weight matrices' products themselves.
import * as ort from 'onnxruntime-node';
import { readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { parseConfig } from '../../dist/gpu/model/config.js';
import { randomWeights } from '../../dist/gpu/model/llamaWeights.js';
import { buildLlamaModel } from '../../dist/gpu/model/llamaGraph.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'x');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
const fused = process.env.FUSED === '1';
const bytes = buildLlamaModel(config, { weightsAs: 'initializers', weights, logitsToKeep: true, fused });
const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: '/tmp/ortprof', logSeverityLevel: 3 });
const P = 80, Hkv = 4, D = 64;
const feeds = (T) => {
  const f = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, i) => BigInt(5 + i)), [1, T]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(P + T).fill(1n), [1, P + T]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, i) => BigInt(P + i)), [1, T]),
    num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.from([0n]), []),
  };
  for (let l = 0; l < 8; l++) for (const kv of ['key', 'value']) f[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(Hkv * P * D).map(() => Math.random() * 0.1), [1, Hkv, P, D]);
  return Object.fromEntries(Object.entries(f).filter(([k]) => s.inputNames.includes(k)));
};
for (let i = 0; i < 60; i++) { await s.run(feeds(1)); await s.run(feeds(5)); }
s.endProfiling();
const file = readdirSync('/tmp').filter((f) => f.startsWith('ortprof')).map((f) => '/tmp/' + f).sort().pop();
const ev = JSON.parse(readFileSync(file, 'utf8'));
// node events: cat "Node", name "<node>_kernel_time", args.op_name; group runs by model_run events
const runs = ev.filter((e) => e.name === 'model_run');
const nodes = ev.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
const byRun = runs.slice(20).map((r, i) => ({ T: (i % 2) ? 5 : 1, dur: r.dur, ops: nodes.filter((n) => n.ts >= r.ts && n.ts <= r.ts + r.dur) }));
for (const T of [1, 5]) {
  const rs = byRun.filter((r) => r.T === T);
  const agg = {};
  for (const r of rs) for (const n of r.ops) agg[n.args.op_name] = (agg[n.args.op_name] ?? 0) + n.dur / rs.length;
  const total = rs.reduce((a, r) => a + r.dur, 0) / rs.length;
  const opsum = Object.values(agg).reduce((a, b) => a + b, 0);
  console.log(`T${T}: run ${total.toFixed(0)}µs, kernels ${opsum.toFixed(0)}µs, nodes/run ${(rs.reduce((a, r) => a + r.ops.length, 0) / rs.length).toFixed(0)}`);
  console.log('  ' + Object.entries(agg).sort((a, b) => b[1] - a[1]).slice(0, 14).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', '));
}
unlinkSync(file);
