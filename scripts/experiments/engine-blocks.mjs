// Usage (after npm run build): node --single-threaded-gc scripts/experiments/engine-blocks.mjs
// CPU, batch 1, the bench spec pair: what a speculative round's target forward costs inside the
// engine against a plain engine's, under the same machine state. Two engines — plain (k = 0) and
// the draft model at fixed k = K (default 4) — are stepped in alternating blocks of R rounds
// (default 6; BLOCKS blocks, default 120), the first round of each block left out (it follows the
// other engine); the target's forward calls are timed. MODES=plain,model,ngram adds the n-gram
// drafter. Measured (2 cores, twelfth session, the machine in a slow state): forward 6.82 vs
// 4.98 ms (1.37×), verify 7.22 vs 5.09 ms, outside the forward 0.36 vs 0.11 ms; R = 40: 1.35–1.48×
// — against 1.26–1.33× for 5- vs 1-position forwards outside the engine (docs/speculative-decoding.md).
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { SpeculativeEngine } from '../../dist/gpu/speculative/engine.js';
import { ModelDrafter } from '../../dist/gpu/speculative/modelDrafter.js';
import { NgramDrafter } from '../../dist/gpu/speculative/ngramDrafter.js';
import { benchPair } from './benchPair.mjs';
const { target, draft } = await benchPair();
const K = Number(process.env.K ?? 4);
const R = Number(process.env.R ?? 6);
let cur = null;
const forward = target.forward.bind(target);
target.forward = async (input, cache) => { const t0 = performance.now(); const o = await forward(input, cache); cur?.push({ T: input.inputIds[0].length, P: cache.pastLength, ms: performance.now() - t0 }); return o; };
const rng = new Xoshiro128(17);
const modes = (process.env.MODES ?? 'plain,model').split(',');
const rounds = Object.fromEntries(modes.map((m) => [m, []]));
const engineFor = (mode) => {
  const k = mode === 'plain' ? 0 : K;
  const drafter = mode === 'ngram' ? new NgramDrafter() : k > 0 ? new ModelDrafter(draft) : null;
  const e = new SpeculativeEngine({ target, drafter, k, kMax: 6, maxBatchSize: 1, onRound: (r) => rounds[mode].push({ ...r, fw: cur.slice() }) });
  for (let i = 0; i < 200; i++) e.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: Array.from({ length: 20 }, () => 3 + Math.floor(rng.next() * 4000)), sampling: { temperature: 0, topK: 0, topP: 1, maxNewTokens: 64 + ((i * 37) % 64), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } });
  return e;
};
const engines = Object.fromEntries(modes.map((m) => [m, engineFor(m)]));
const kept = Object.fromEntries(modes.map((m) => [m, []]));
for (let b = 0; b < Number(process.env.BLOCKS ?? 120); b++) {
  const m = modes[b % modes.length];
  const before = rounds[m].length;
  for (let r = 0; r < R; r++) { cur = []; await engines[m].step(); }
  kept[m].push(...rounds[m].slice(before + 1));
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[s.length >> 1] : NaN; };
for (const m of modes) {
  const rs = kept[m].filter((r) => r.joiners === 0 && r.fw.length === 1); // no prefill in the round
  const fw = rs.map((r) => r.fw[0].ms);
  const verify = rs.map((r) => r.verifySeconds * 1000);
  console.log(`${m}: rounds ${rs.length}, forward ${med(fw).toFixed(2)} ms, verify ${med(verify).toFixed(2)} ms, outside the forward ${med(verify.map((v, i) => v - fw[i])).toFixed(2)} ms, draft ${med(rs.map((r) => r.draftSeconds * 1000)).toFixed(2)} ms, cache slots ${med(rs.map((r) => r.fw[0].P))}, positions ${med(rs.map((r) => r.fw[0].T))}`);
}
for (const e of Object.values(engines)) await e.dispose();
await target.release();
await draft.release();
