// Usage (after npm run build): node --single-threaded-gc scripts/experiments/gap-before-forward.mjs
// CPU, batch 1, the bench spec target (benchPair.mjs): what 2 ms of other work right before a
// target forward does to that forward. Each timed forward is one position over 64 cached slots,
// right after a prefill of the target (untimed) and, depending on the mode, after:
//   none    nothing (the target's own prefill is the last thing that ran)
//   busy    a 2.2 ms JavaScript busy-wait on the main thread
//   busy2   the same with a worker thread spinning on the other core meanwhile
//   memory  a read over 28 MB (the draft model's weights are ~28 MB)
//   sleep   a 2 ms timer (both cores idle)
//   draft   one step of the draft model (one intra-op thread, as in the engine)
// Modes run in alternating blocks of R (default 40) forwards, BLOCKS blocks (default 24); medians.
// Measured (2 cores, thirteenth session, two sittings): busy 1.10–1.18, memory 1.27, busy2 1.08,
// sleep 1.06, draft 1.07–1.15 — any gap of a couple of milliseconds before a target forward makes
// it 6–27% dearer than one run back to back with the target's previous work. A draft-model round
// puts such a gap (the draft's session run) before every verify; a plain engine has ~0.15 ms of
// JavaScript between its forwards (docs/speculative-decoding.md, thirteenth session).
import { Worker } from 'node:worker_threads';
import { benchPair } from './benchPair.mjs';
const { target, draft } = await benchPair();
const P = 64;
const prefill = async (d) => (await d.forward({ inputIds: [Array(P).fill(4)], positionIds: [Array.from({ length: P }, (_, i) => i)], attentionMask: [Array(P).fill(1)] }, d.emptyCache(1))).cache;
const step = async (d, cache, T = 1) => { const o = await d.forward({ inputIds: [Array(T).fill(3)], positionIds: [Array.from({ length: T }, (_, i) => P + i)], attentionMask: [Array(P + T).fill(1)] }, cache); return o; };
let tc = await prefill(target), dc = await prefill(draft);
const buf = new Float64Array(28e6 / 8).fill(1);
const between = {
  none: async () => {},
  busy: async () => { const t = performance.now(); while (performance.now() - t < 2.2); },
  memory: async () => { let s = 0; for (let i = 0; i < buf.length; i += 8) s += buf[i]; return s; },
  draft: async () => { const o = await step(draft, dc); o.cache.dispose(); dc = await prefill(draft); },
};
// draft mode re-prefills its cache each time (its cost not timed); to be fair all modes prefill the target similarly
const flag = new Int32Array(new SharedArrayBuffer(4));
const w = new Worker(`const { workerData } = require('node:worker_threads'); const f = new Int32Array(workerData); for (;;) { while (Atomics.load(f, 0) === 0) Atomics.wait(f, 0, 0, 50); let x = 0; while (Atomics.load(f, 0) === 1) x++; }`, { eval: true, workerData: flag.buffer });
w.unref();
between.busy2 = async () => { Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); const t = performance.now(); while (performance.now() - t < 2.2); Atomics.store(flag, 0, 0); };
between.sleep = async () => { await new Promise((r) => setTimeout(r, 2)); };
const times = {};
const modes = (process.env.MODES ?? 'none,busy,busy2,memory,sleep,draft').split(',');
const R = +(process.env.R ?? 40);
for (let b = 0; b < +(process.env.BLOCKS ?? 24); b++) {
  const m = modes[b % modes.length];
  for (let r = 0; r < R; r++) {
    await between[m]();
    const t0 = performance.now();
    const o = await step(target, tc);
    const dt = performance.now() - t0;
    o.cache.dispose(); tc = await prefill(target);
    if (r >= 2) (times[m] ??= []).push(dt);
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const m of modes) console.log(m.padEnd(8), 'target 1-position forward p50', med(times[m]).toFixed(2), 'ms', (med(times[m]) / med(times.none)).toFixed(3));
