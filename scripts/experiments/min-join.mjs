// Usage (after npm run build): node scripts/experiments/min-join.mjs [cpu|webgpu] [batch] [waves] [repetitions] [minJoin list, e.g. 1,8,16,32,64]
// Plain decoding only: the engine's tokens/s with waiting requests joining once minJoin rows are free, against
// generate() in static waves of the same requests (65–128 new tokens each).
import { parseConfig } from '../../dist/gpu/model/config.js';
import { randomWeights } from '../../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { SpeculativeEngine } from '../../dist/gpu/speculative/engine.js';
import { generate } from '../../dist/gpu/sampling/generate.js';
const device = process.argv[2] ?? 'cpu';
const B = Number(process.argv[3] ?? 64);
const waves = Number(process.argv[4] ?? 3);
const reps = Number(process.argv[5] ?? 2);
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'x');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
const target = await loadDecoder({ config, weights, name: 't' }, { device });
const rng = new Xoshiro128(81);
const prompts = Array.from({ length: B * waves }, () => Array.from({ length: 20 }, () => 3 + Math.floor(rng.next() * 4093)));
const lengthOf = (i) => 128 - ((i * 37) % 64);
const params = { temperature: 0, topK: 0, topP: 1 };
await generate(target, { prompts: [[1, 2, 3]], params, maxNewTokens: 4, seed: 0 });
const tokens = prompts.reduce((s, _, i) => s + lengthOf(i), 0);
for (let rep = 0; rep < reps; rep++) {
  const line = [];
  let t0 = performance.now();
  for (let w = 0; w < waves; w++) await generate(target, { prompts: prompts.slice(w * B, (w + 1) * B), params, maxNewTokens: prompts.slice(w * B, (w + 1) * B).map((_, j) => lengthOf(w * B + j)), seed: 1 });
  line.push(`generate ${(tokens / ((performance.now() - t0) / 1000)).toFixed(0)}`);
  for (const minJoin of (process.argv[6] ?? "1,8").split(",").map(Number)) {
    const engine = new SpeculativeEngine({ target, drafter: null, k: 0, maxBatchSize: B, minJoin });
    prompts.forEach((p, i) => engine.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: p, sampling: { ...params, maxNewTokens: lengthOf(i), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } }));
    t0 = performance.now();
    let rounds = 0;
    while (!engine.idle) { await engine.step(); rounds++; }
    line.push(`minJoin ${minJoin}: ${(tokens / ((performance.now() - t0) / 1000)).toFixed(0)} (${rounds} steps)`);
    await engine.dispose();
  }
  console.log(`${device} B=${B} waves=${waves} tok/s: ${line.join(' | ')}`);
}
