// Usage (after npm run build): node --single-threaded-gc scripts/experiments/k0-steady.mjs
// CPU, batch 1, the bench spec pair: are the steady plain rounds of an engine that speculates now
// and then slower than a plain engine's? Alternates (10 repetitions, every other one reversed) a
// plain engine and engines that speculate on a fixed schedule — k = 4 for 6 of every 60 rounds —
// with the draft model (`modelSched`) and the n-gram drafter (`ngramSched`), and compares the
// median target forward over one position among forwards whose 3 predecessors were 1-position
// forwards too. Measured (2 cores, eleventh session): 0.997× and 0.977× plain's — no lasting cost
// of speculation on later plain rounds (docs/speculative-decoding.md, eleventh session). Twelfth
// session, the machine slower and noisier (plain 6.1 ms): 1.074 and 1.022.
// Steady k=0 target forwards: plain engine vs engines that speculate on a fixed schedule (k=4 for 6 of every 60 rounds)
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';
import { SpeculativeEngine } from '../../dist/gpu/speculative/engine.js';
import { ModelDrafter } from '../../dist/gpu/speculative/modelDrafter.js';
import { NgramDrafter } from '../../dist/gpu/speculative/ngramDrafter.js';
import { AdaptiveK } from '../../dist/gpu/speculative/adaptiveK.js';
import { benchPair } from './benchPair.mjs';
const { target, draft } = await benchPair();
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
