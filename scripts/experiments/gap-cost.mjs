// Does host work between two target forwards cost more than its own time? (CPU, 2 cores)
// Runs a plain engine (k = 0) whose onRound hook busy-waits G µs, for several G, alternating in
// one process; prints per G the median wall time, the median forward (verify) time per round and
// the wall time added per round over G = 0, next to G itself.
// Usage (after `npm run build`): node --single-threaded-gc scripts/experiments/gap-cost.mjs
// Environment: B (default 1), REPS (default 8), GAPS (default 0,50,100,200), NOSPIN=1, YIELD=1
// (the busy wait yields to the event loop first: setImmediate).
import { parseConfig } from '../../dist/gpu/model/config.js';
import { randomWeights } from '../../dist/gpu/model/llamaWeights.js';
import { loadDecoder } from '../../dist/gpu/runtime/loadDecoder.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { SpeculativeEngine } from '../../dist/gpu/speculative/engine.js';

const B = Number(process.env.B ?? 1);
const REPS = Number(process.env.REPS ?? 8);
const GAPS = (process.env.GAPS ?? '0,50,100,200').split(',').map(Number);
const config = parseConfig({ model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0 }, 'gap-cost');
const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
const target = await loadDecoder({ config, weights, name: 'target' }, { device: 'cpu', ...(process.env.NOSPIN ? { intraOpSpinning: false } : {}) });
const params = { temperature: 0, topK: 0, topP: 1 };
const prompts = Array.from({ length: B === 1 ? 4 : 2 * B }, (_, i) => Array.from({ length: 20 }, (_, j) => 3 + ((i * 131 + j * 17) % 4000)));
const lengthOf = (i) => 128 - ((i * 37) % 64);
const busy = (us) => { const end = performance.now() + us / 1000; let x = 0; while (performance.now() < end) x++; return x; };

async function run(gap) {
  const verify = [];
  const engine = new SpeculativeEngine({ target, maxBatchSize: B, k: 0, onRound: (r) => { verify.push(r.verifySeconds); if (gap > 0) busy(gap); } });
  prompts.forEach((p, i) => engine.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: p, sampling: { ...params, maxNewTokens: lengthOf(i), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } }));
  const t0 = performance.now();
  await engine.runToCompletion();
  const ms = performance.now() - t0;
  await engine.dispose();
  return { ms, rounds: verify.length, verify: median(verify) * 1000 };
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const res = new Map(GAPS.map((g) => [g, []]));
for (let rep = 0; rep < REPS; rep++) {
  for (const g of rep % 2 ? [...GAPS].reverse() : GAPS) res.get(g).push(await run(g));
  process.stderr.write(`\rrepetition ${rep + 1}/${REPS}`);
}
process.stderr.write('\n');
const base = median(res.get(GAPS[0]).slice(1).map((r) => r.ms));
for (const [g, v] of res) {
  const rest = v.slice(1);
  const ms = median(rest.map((r) => r.ms));
  console.log(`gap ${String(g).padStart(4)} µs: wall ${ms.toFixed(0)} ms, forward ${median(rest.map((r) => r.verify)).toFixed(3)} ms/round, added ${(((ms - base) / rest[0].rounds) * 1000).toFixed(0)} µs/round`);
}
process.exit(0);
