// The seeded simulation of adaptive k with a draft model at one row on a CPU (the unit test "a
// draft model at one row on a CPU" in src/gpu/speculative/adaptiveK.unit.spec.ts), over more
// seeds and any α, to try a change to AdaptiveK before a benchmark (docs/speculative-decoding.md,
// tenth session). Needs `npm run build`.
//
//   node scripts/experiments/adaptive-sim.mjs [alpha=0.66] [seeds=40] [fixed k]
//   V=1 …   one line per seed: seed, speedup over plain, speculative rounds, the k run-lengths
//   BUDGET=0.03 …   AdaptiveK's exploreBudget (default 0.015)
//
// Measured CPU cost curves (bench spec's pair), ±5% noise, a 2–4× spike in one round of 50, a
// switch in catches up the tokens missed at 0.02 plain rounds each, a new sequence every 130 rounds.
import { AdaptiveK } from '../../dist/gpu/speculative/adaptiveK.js';
import { Xoshiro128 } from '../../dist/gpu/sampling/rng.js';

const verify = [1, 1.1, 1.2, 1.32, 1.45, 1.55, 1.7];
const draft = [0, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05];
const alpha = Number(process.argv[2] ?? 0.66);
const seeds = Number(process.argv[3] ?? 40);
const fixedK = process.argv[4] !== undefined ? Number(process.argv[4]) : undefined;
let sum = 0;
const lines = [];
for (let seed = 0; seed < seeds; seed++) {
  const rng = new Xoshiro128(100 + seed);
  const ak = new AdaptiveK({ kMax: 6, ...(process.env.BUDGET ? { exploreBudget: Number(process.env.BUDGET) } : {}) });
  ak.observeVerifyCurve(1, verify);
  ak.observeDraftCurve(1, draft);
  let [seconds, tokens, last, missed] = [0, 0, 0, 0];
  const ks = [];
  for (let r = 0; r < 600; r++) {
    const id = `s${Math.floor(r / 130)}`;
    let k = ak.choose(1, missed, { lengths: [20 + (r % 130)], remaining: [130 - (r % 130)], ids: [id] });
    if (fixedK !== undefined) k = fixedK;
    let accepted = 0;
    while (accepted < k && rng.next() < alpha) accepted++;
    const noise = (0.95 + 0.1 * rng.next()) * (rng.next() < 0.02 ? 2 + 2 * rng.next() : 1);
    const s = noise * (verify[k] + draft[k] + (k > 0 ? 0.1 : 0)) + (k > 0 && last === 0 ? 0.02 * missed : 0);
    if (k > 0) ak.observeAcceptance(k, accepted, k, id);
    ak.observeRound({ batchSize: 1, k, tokensPerRow: accepted + 1, seconds: s, ...(k > 0 ? { catchUp: missed } : {}) });
    missed = k > 0 ? 0 : missed + 1;
    [seconds, tokens, last] = [seconds + s, tokens + accepted + 1, k];
    ks.push(k);
  }
  const speedup = (tokens * (0.98 + 0.02 * 3)) / seconds; // plain: a token per round of mean noise 1.04
  sum += speedup;
  const runs = [];
  for (const k of ks) if (runs.length > 0 && runs.at(-1)[0] === k) runs.at(-1)[1]++; else runs.push([k, 1]);
  lines.push(`${seed}  ${speedup.toFixed(3)}  ${ks.filter((k) => k > 0).length}  ${runs.map(([k, n]) => `${k}:${n}`).join(' ').slice(0, 100)}`);
}
console.log(`alpha ${alpha}, ${seeds} seeds${fixedK !== undefined ? `, fixed k ${fixedK}` : ''}: mean speedup over plain ${(sum / seeds).toFixed(4)}`);
if (process.env.V) console.log(lines.join('\n'));
