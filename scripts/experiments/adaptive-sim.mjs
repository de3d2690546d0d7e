// The seeded simulation of adaptive k with a draft model at one row on a CPU
// (`src/gpu/speculative/rowSimulation.ts`, which the unit test "a draft model at one row on a
// CPU" runs over 40 seeds) over any α and seed count, to try a change to AdaptiveK before a
// benchmark (docs/speculative-decoding.md, tenth session). Needs `npm run build`.
//
//   node scripts/experiments/adaptive-sim.mjs [alpha=0.66] [seeds=40] [fixed k]
//   V=1 …   one line per seed: seed, speedup over plain, speculative rounds, the k run-lengths
//   BUDGET=0.03 …   AdaptiveK's exploreBudget (default 0.015)
import { simulateRow } from '../../dist/gpu/speculative/rowSimulation.js';

const alpha = Number(process.argv[2] ?? 0.66);
const seeds = Number(process.argv[3] ?? 40);
const fixedK = process.argv[4] !== undefined ? Number(process.argv[4]) : undefined;
const options = process.env.BUDGET ? { exploreBudget: Number(process.env.BUDGET) } : {};
let sum = 0;
const lines = [];
for (let seed = 0; seed < seeds; seed++) {
  const { speedup, ks } = simulateRow(alpha, seed, options, fixedK);
  sum += speedup;
  const runs = [];
  for (const k of ks) if (runs.length > 0 && runs.at(-1)[0] === k) runs.at(-1)[1]++; else runs.push([k, 1]);
  lines.push(`${seed}  ${speedup.toFixed(3)}  ${ks.filter((k) => k > 0).length}  ${runs.map(([k, n]) => `${k}:${n}`).join(' ').slice(0, 100)}`);
}
console.log(`alpha ${alpha}, ${seeds} seeds${fixedK !== undefined ? `, fixed k ${fixedK}` : ''}: mean speedup over plain ${(sum / seeds).toFixed(4)}`);
if (process.env.V) console.log(lines.join('\n'));
