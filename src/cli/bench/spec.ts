/**
 * `npm run bench -- spec [--device cpu|webgpu] [--quick] [flags]` (its flags: `SPEC_FLAGS`, listed by
 * `specstream bench --help`): plain vs speculative tokens/s at batch 1, 8
 * and 64, for each drafter (draft model, n-gram, rollout reuse) at a fixed k and at adaptive k —
 * `auto` from a cold start in every run, `warm` with one AdaptiveK kept across the repetitions
 * (as a training run keeps one across its steps).
 *
 * The draft model drafts greedily with the k-step graph (`multiStepDraft`: one session run per
 * round); `--stepwise-draft` adds rows `model1` that draft one session run per token. Rows
 * `joint` use the same draft model in joint rounds (`OrtRoundDecoder`: the draft's k steps and
 * the target's verify in ONE session run; fixed k only, as in `ModelDrafter`); their c is the `model` row's (same draft, same k),
 * or, without a `model` row, the draft's own measured cost (`ModelDrafter.measureCost`).
 *
 * Pair: a random Llama target (~28M parameters) and a draft cut from its own first layers
 * (`truncatedDraft`: embedding, first n layers, final norm, LM head). With plain random weights
 * every layer rewrites the residual stream and such a cut agrees with the target on few tokens;
 * the benchmark scales the output projections (o_proj, down_proj) of the layers past the cut by
 * `--refine` (default 0.03) so that they refine rather than rewrite — the regime of a real
 * target/draft pair: the measured first-position acceptance is ≈ 0.8 (greedy), of the order of
 * a distilled draft's. Without it (`--refine 1`) acceptance is ≈ 0. Rollout reuse drafts
 * from rollouts of the same prompts by an "earlier step's" policy: the target with noise added
 * to every weight (`--drift`, relative, default 0.005 — random models have tiny logit margins,
 * so greedy outputs diverge fast: 0.005 gives a first-position acceptance ≈ 0.8, 0.05 ≈ 0).
 *
 * Per batch size B, `--waves` × B requests (default: 4 waves at B = 1, 2 at B = 8, 1 at B ≥ 16)
 * of up to `--tokens` (default 128; request i gets its own length in [tokens/2, tokens], as
 * rollouts end at EOS — `--same-length` runs all to `tokens`, which keeps plain decoding's rows
 * in lockstep, a best case no rollout batch has; RL rollouts run to hundreds of tokens, and adaptive k's
 * exploration is a fixed cost that a 32-token sequence would overweight) go through the
 * engine's continuous batching with at most B sequences verified together, as rollouts do; the
 * baseline `plain` is the same engine with k = 0, and `generate` (the sampling module's plain
 * decoder, static batches of B) is printed for reference. Adaptive-k rows also print how often
 * each k ran and the share of time its exploration lost against plain (its ledger).
 *
 * Reported per row: tokens/s, speedup over plain, α̂ (per-token acceptance solving
 * (1 − α^(k+1))/(1 − α) = measured tokens per row-round, over the row-rounds that asked the
 * drafter for k ≥ 1 drafts: a row it proposed nothing for counts as k rejected drafts), α̂|p
 * (the same over row-rounds with a proposal only), acceptance rate, c (draft step seconds /
 * plain target step seconds at that batch), mean k, S (the ideal for the rounds run:
 * Σ E_r / Σ (1 + k_r·c) — for a fixed k exactly S(α̂, c, k)) and the fraction of it achieved,
 * S|p = S(α̂|p, c, k̄) (a drafter that proposed every round) and its fraction, whether the
 * greedy output equals plain decoding, rounds, and the verify cost per round and as a multiple
 * v of a plain step — S assumes v = 1 (verifying k+1 positions as cheap as one), which a CPU is
 * not: the fraction is bounded by about 1/v.
 *
 * What an adaptive engine measures once per process at its start (cost curves, slot cost:
 * `warmUp.ts`) is measured before the timed runs, like the sessions it opens, and its time is
 * printed per batch size (CPU: ~0.3 s at batch 8, ~2.5 s at batch 64).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig, parameterCount, type LlamaConfig } from '../../gpu/model/config.js';
import { layerNames, randomWeights } from '../../gpu/model/llamaWeights.js';
import type { Device } from '../../gpu/runtime/Decoder.js';
import { loadDecoder } from '../../gpu/runtime/loadDecoder.js';
import { generate } from '../../gpu/sampling/generate.js';
import { Xoshiro128, normal } from '../../gpu/sampling/rng.js';
import { AdaptiveK, theoreticalSpeedup } from '../../gpu/speculative/adaptiveK.js';
import type { SpecDecodeCounters } from '../../gpu/speculative/counters.js';
import type { Drafter } from '../../gpu/speculative/drafter.js';
import { SpeculativeEngine, type RoundTrace } from '../../gpu/speculative/engine.js';
import { ModelDrafter } from '../../gpu/speculative/modelDrafter.js';
import { OrtRoundDecoder } from '../../gpu/runtime/roundDecoder.js';
import { NgramDrafter } from '../../gpu/speculative/ngramDrafter.js';
import { ReuseDrafter } from '../../gpu/speculative/reuseDrafter.js';
import { truncatedDraft } from '../../gpu/speculative/truncatedDraft.js';
import { measureStartUp } from '../../gpu/speculative/warmUp.js';
import type { F32Tensor } from '../../gpu/weights/tensor.js';
import { benchArgs, type Benchmark } from './index.js';
import { collectedTimer, median, medianInterval } from './stats.js';

/** Plain decoding runs again after this many configurations (the paired column's reference). */
const PLAIN_EVERY = 3;

/** The largest k adaptive k may choose. */
const K_MAX = 6;

const TARGET = {
  model_type: 'llama', hidden_size: 512, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4,
  intermediate_size: 1408, vocab_size: 4096, tie_word_embeddings: false, eos_token_id: 0,
};

const intOpt = (v: string | boolean | undefined, dflt: number, name: string): number => {
  if (v === undefined || typeof v === 'boolean') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`bench spec: --${name} must be an integer ≥ 0; got "${v}"`);
  return n;
};
const numOpt = (v: string | boolean | undefined, dflt: number, name: string): number => {
  if (v === undefined || typeof v === 'boolean') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`bench spec: --${name} must be a number ≥ 0; got "${v}"`);
  return n;
};

/** This benchmark's own flags (shown by `specstream bench --help`; anything else is an error). */
const SPEC_FLAGS: ReadonlyArray<readonly [string, string]> = [
  ['--batches 1,8,64', 'batch sizes (at most B sequences verified together)'],
  ['--drafters model,joint,ngram,reuse', 'which drafters get rows (plain always runs: the baseline); joint = the draft model in one session run per round'],
  ['--tokens N', 'new tokens per request at most (default 128; request i gets its own length in [N/2, N])'],
  ['--same-length', 'every request runs to --tokens'],
  ['--k N[,N…]', 'the fixed draft length(s) of the fixed-k rows, a row per k for each drafter (default 4)'],
  ['--reps R', 'repetitions, round-robin (default 2 on cpu, 5 on webgpu)'],
  ['--modes fixed,auto,warm,aa,generate', 'which rows run besides plain (default all; aa = a second plain engine paired like the others: the noise floor)'],
  ['--waves W', 'requests = W × B (default 4 at B = 1, 2 at B = 8, 1 at B ≥ 16)'],
  ['--min-join J', 'rows free before waiting requests join (default ⌈B/4⌉)'],
  ['--trace DIR', 'one JSON-lines file of rounds per configuration and repetition'],
  ['--stepwise-draft', 'add draft-model rows that draft one session run per token'],
  ['--draft-threads N', 'intra-op threads of the draft session (default 1 on cpu)'],
  ['--draft-no-spin', 'the draft session\'s threads sleep between runs instead of spinning'],
  ['--layers L, --draft-layers n', 'target layers (default 8), draft = its first n (default 1)'],
  ['--refine s, --drift d', 'deep-layer output scale (default 0.03), reuse drift (default 0.005)'],
  ['--temperature t', 'sampling temperature (default 0: outputs are compared with plain)'],
  ['--fused, --plain', 'force the fused / plain graph (default: fused on webgpu)'],
];
const KNOWN_FLAGS = new Set(['device', 'quick', 'out', ...SPEC_FLAGS.flatMap(([f]) => f.split(', ').map((x) => x.split(' ')[0]!.slice(2)))]);
const DRAFTERS = ['model', 'joint', 'ngram', 'reuse'] as const;
const MODES = ['fixed', 'auto', 'warm', 'aa', 'generate'] as const;

/** Solves (1 − α^(k+1)) / (1 − α) = tokensPerRound for α ∈ [0, 1] by bisection. */
export function alphaFromTokensPerRound(tokensPerRound: number, k: number): number {
  if (k <= 0 || tokensPerRound <= 1) return 0;
  if (tokensPerRound >= k + 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    const e = (1 - mid ** (k + 1)) / (1 - mid);
    if (e < tokensPerRound) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Scales the output projections of layers ≥ from (they refine the residual instead of rewriting it). */
function refineDeepLayers(c: LlamaConfig, w: Map<string, F32Tensor>, from: number, scale: number): void {
  for (let i = from; i < c.numLayers; i++) {
    for (const name of [layerNames(i).o, layerNames(i).down]) {
      const t = w.get(name)!;
      w.set(name, { dims: t.dims, data: t.data.map((x) => x * scale) });
    }
  }
}

/** The target with relative Gaussian noise on every weight: an earlier step's policy. */
function drifted(w: Map<string, F32Tensor>, rel: number, seed: number): Map<string, F32Tensor> {
  const rng = new Xoshiro128(seed);
  const out = new Map<string, F32Tensor>();
  for (const [name, t] of w) {
    let ss = 0;
    for (const x of t.data) ss += x * x;
    const sd = rel * Math.sqrt(ss / t.data.length);
    out.set(name, { dims: t.dims, data: t.data.map((x) => x + sd * normal(rng)) });
  }
  return out;
}

/** Prompts that, like task prompts, repeat phrases (what n-gram lookup feeds on). */
function makePrompts(n: number, vocab: number, seed: number): number[][] {
  const rng = new Xoshiro128(seed);
  const phrases = Array.from({ length: 6 }, () => Array.from({ length: 4 }, () => 3 + Math.floor(rng.next() * (vocab - 3))));
  return Array.from({ length: n }, () => Array.from({ length: 5 }, () => phrases[Math.floor(rng.next() * phrases.length)]!).flat());
}

const emptyStats = (): SpecDecodeCounters => ({ numDrafts: 0, numDraftTokens: 0, numAcceptedTokens: 0, numAcceptedTokensPerPos: [] });

interface Row {
  batch: number;
  drafter: string;
  k: string;
  tokensPerSec: number;
  /** Fastest run over plain's fastest run. */
  speedup: number;
  /**
   * The median over repetitions of the speedup against the mean of the two plain runs around
   * the run (plain runs after every `PLAIN_EVERY` configurations): a shared machine that is
   * slower for a while slows both sides of the ratio.
   */
  paired: number;
  /**
   * α̂: per-token acceptance solving (1 − α^(k+1)) / (1 − α) = tokens per row-round over the
   * rounds that asked the drafter for k ≥ 1 drafts — a row the drafter proposed nothing for
   * counts as k rejected drafts (k: the mean k of those rounds, rounded).
   */
  alpha: number;
  /** α̂ over row-rounds with a proposal only (vLLM's counters: `num_drafts` rounds). */
  alphaIfProposed: number;
  acceptanceRate: number;
  c: number;
  meanK: number;
  /**
   * S for the rounds run: Σ E_r / Σ (1 + k_r·c) with E_r the tokens per row of round r — for a
   * fixed k exactly S(α̂, c, k); for adaptive k the mixture of its rounds.
   */
  theoretical: number;
  fractionOfTheoretical: number;
  /**
   * paired / S: the same share from the paired speedup — on a GPU whose runs spread ±10–20% the
   * fastest-of-R ratio behind `fractionOfTheoretical` moves with luck (an A/A row's fastest run
   * came out at 0.85–1.02 of plain's).
   */
  fractionPaired: number;
  /** S(α̂ if proposed, c, k̄): what the drafter would give if it proposed k tokens every round. */
  theoreticalIfProposed: number;
  fractionIfProposed: number;
  /** The per-repetition ratios the paired median is taken over (their range is printed). */
  pairedRatios?: number[];
  /** A distribution-free ≥ 90% confidence interval of the paired median (`medianInterval`). */
  pairedInterval?: { lo: number; hi: number; coverage: number };
  /** Adaptive k: rounds that ran each k. */
  roundsPerK?: number[];
  /** Adaptive k: time its k ≥ 1 rounds lost (+) or won (−) against plain, as a share of its rounds' time. */
  ledgerShare?: number;
}

export const specBenchmark: Benchmark = {
  usage: SPEC_FLAGS,
  name: 'spec',
  description: 'speculative vs plain decoding tokens/s at batch 1, 8, 64 per drafter (model, ngram, reuse), fixed and adaptive k; α, c, S(α,c,k)',
  async run(parsed, args) {
    const { flags, operands } = benchArgs(args);
    if (operands.length > 0) throw new Error(`bench spec: unexpected argument${operands.length > 1 ? 's' : ''} ${operands.join(' ')}; see specstream bench --help`);
    const options: Record<string, string | boolean> = { ...flags, ...parsed };
    const unknown = Object.keys(options).filter((k) => !KNOWN_FLAGS.has(k));
    if (unknown.length > 0) throw new Error(`bench spec: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `--${u}`).join(', ')}; see specstream bench --help`);
    const drafterNames = typeof options['drafters'] === 'string' ? options['drafters'].split(',') : [...DRAFTERS];
    const badDrafter = drafterNames.find((d) => !(DRAFTERS as readonly string[]).includes(d));
    if (badDrafter !== undefined || options['drafters'] === true) throw new Error(`bench spec: --drafters takes a list of ${DRAFTERS.join(', ')}; got "${String(options['drafters'])}"`);
    const modes = new Set(typeof options['modes'] === 'string' ? options['modes'].split(',') : MODES);
    const badMode = [...modes].find((m) => !(MODES as readonly string[]).includes(m));
    if (badMode !== undefined || options['modes'] === true) throw new Error(`bench spec: --modes takes a list of ${MODES.join(', ')}; got "${String(options['modes'])}"`);
    const device: Device = options['device'] === 'webgpu' ? 'webgpu' : 'cpu';
    const quick = options['quick'] === true;
    const batches = typeof options['batches'] === 'string' ? options['batches'].split(',').map((b) => intOpt(b, 1, 'batches')) : quick ? [1, 8] : [1, 8, 64];
    const tokens = intOpt(options['tokens'], quick ? 32 : 128, 'tokens');
    // One fixed-k row per listed k (e.g. --k 1,2,4: which draft length this machine favours).
    const kList = typeof options['k'] === 'string' ? options['k'].split(',').map((k) => intOpt(k, 4, 'k')) : [intOpt(options['k'], 4, 'k')];
    if (kList.some((k) => k < 1) || new Set(kList).size !== kList.length) throw new Error(`bench spec: --k takes distinct draft lengths ≥ 1 (e.g. 4 or 1,2,4); got "${String(options['k'])}"`);
    // A single k stays a number in the result's config (results of earlier runs pool with it).
    const kFixed: number | number[] = kList.length === 1 ? kList[0]! : kList;
    // Rows free before waiting requests join (the engine's default ⌈B / 4⌉; B = static waves).
    const minJoinOpt = options['min-join'] === undefined ? undefined : intOpt(options['min-join'], 1, 'min-join');
    const draftLayers = intOpt(options['draft-layers'], 1, 'draft-layers');
    const refine = numOpt(options['refine'], 0.03, 'refine');
    const drift = numOpt(options['drift'], 0.005, 'drift');
    const temperature = numOpt(options['temperature'], 0, 'temperature');
    // Rollouts end at different lengths (EOS); the random model never stops, so request i is
    // given its own length in [tokens/2, tokens]. With --same-length every request runs to
    // `tokens`: plain decoding then keeps its rows in lockstep (one join and one departure per
    // wave, the shortest possible cache), which no real rollout batch does.
    const sameLength = options['same-length'] === true;
    const lengthOf = (i: number) => (sameLength ? tokens : tokens - ((i * 37) % Math.ceil(tokens / 2)));
    const config = parseConfig({ ...TARGET, ...(quick ? { num_hidden_layers: 4, hidden_size: 256, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 704 } : {}), num_hidden_layers: intOpt(options['layers'], quick ? 4 : 8, 'layers') }, 'bench spec target');
    const weights = randomWeights(config, new Xoshiro128(1234), { std: 0.02 });
    refineDeepLayers(config, weights, draftLayers, refine);
    const cut = truncatedDraft(config, weights, draftLayers);
    // the fused graph (fewer, larger dispatches): the decoder's default on WebGPU; --fused / --plain force it
    const fused = options['fused'] === true || (device === 'webgpu' && options['plain'] !== true);
    // A full collection around every timed run (`collectedTimer`): each run pays for its own garbage only.
    const timed = collectedTimer();
    const target = await loadDecoder({ config, weights, name: 'bench-target' }, { device, fused });
    // On a CPU the draft session gets one intra-op thread: a multi-threaded pool keeps spinning
    // after each draft step and slows the target's next forward ~2× on a small machine.
    const draftThreads = intOpt(options['draft-threads'], device === 'cpu' ? 1 : 0, 'draft-threads');
    const draft = await loadDecoder({ config: cut.config, weights: cut.weights, name: 'bench-draft' }, {
      device, fused, multiStepDraft: true, ...(draftThreads > 0 ? { intraOpNumThreads: draftThreads } : {}), ...(options['draft-no-spin'] === true ? { intraOpSpinning: false } : {}),
    });
    // --stepwise-draft adds rows for the draft model drafting one session run per token (the
    // draft graph without the k-step unrolling), side by side with the multi-step graph.
    const stepwiseDraft = options['stepwise-draft'] === true;
    // Joint rounds of the same pair (sessions per k opened below, before any timed run).
    const rounds = OrtRoundDecoder.open({ decoder: target, model: { config, weights } }, { decoder: draft, model: cut }, { fused });
    const previous = await loadDecoder({ config, weights: drifted(weights, drift, 99), name: 'bench-previous-policy' }, { device, fused });
    console.log(
      `spec bench on ${device}${fused ? ' (fused graph)' : ''}${process.execArgv.includes('--single-threaded-gc') ? ', Node with --single-threaded-gc' : ''}: target ${(parameterCount(config) / 1e6).toFixed(1)}M params (${config.numLayers} layers, hidden ${config.hiddenSize}, vocab ${config.vocabSize}), ` +
        `draft = its first ${draftLayers} layer(s) (${(parameterCount(cut.config) / 1e6).toFixed(1)}M), deep-layer scale ${refine}; ${sameLength ? `${tokens}` : `${Math.floor(tokens / 2) + 1}–${tokens}`} new tokens per sequence, temperature ${temperature}, fixed k ${kList.join(', ')}`,
    );
    const params = { temperature, topK: 0, topP: 1 };
    // The k-step draft sessions for every k adaptive k may pick, opened before any timed run (an
    // engine opens those it lacks when it starts: the first adaptive run would pay for k 5, 6).
    await draft.prepareGreedyDraft?.(Array.from({ length: K_MAX }, (_, i) => i + 1));
    if (drafterNames.includes('joint')) await rounds.prepare(kList);
    // Warm-up: first runs pay for allocations.
    for (const d of [target, draft, previous]) await generate(d, { prompts: [[1, 2, 3]], params, maxNewTokens: 4, seed: 0 });

    const rows: Row[] = [];
    // Every timed run in the order it ran (per batch size and repetition): the raw material of
    // the paired ratios, kept so that position effects can be looked for afterwards.
    const runs: Array<{ batch: number; rep: number; order: string[]; tokensPerSec: number[] }> = [];
    const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
    // WebGPU runs are cheap, and a GPU round now and then takes twice as long: 5 repetitions there.
    const reps = Math.max(1, intOpt(options['reps'], quick ? 1 : device === 'webgpu' ? 5 : 2, 'reps'));
    const traceDir = typeof options['trace'] === 'string' ? options['trace'] : undefined;
    if (options['trace'] === true) throw new Error('bench spec: --trace needs a directory (one JSON-lines file of rounds per configuration and repetition)');
    if (traceDir) await mkdir(traceDir, { recursive: true });
    // Waves of B requests: enough sequences at small B for a stable rate, one wave at large B.
    const wavesFor = (B: number) => Math.max(1, intOpt(options['waves'], quick ? 1 : Math.min(4, Math.max(1, Math.ceil(16 / B))), 'waves'));
    console.log(
      `per batch size B: ${batches.map((B) => `${wavesFor(B)}·${B}`).join(', ')} requests of ${sameLength ? tokens : `up to ${tokens}`} new tokens (RL rollouts are hundreds of tokens long, of varying length) through continuous batching (at most B verified together; waiting requests join once ${minJoinOpt ?? '⌈B/4⌉'} rows are free); ` +
        `'plain' = the same engine with k = 0, 'generate' = the sampling module's generate() in static batches of B, same lengths (reference); ` +
        `each configuration runs ${reps}× round-robin (every other time in reverse order), the fastest run counts (shared machine); 'paired' = the median over repetitions of a run's speedup over the mean of the plain runs before and after it (plain runs again after every ${PLAIN_EVERY} configurations), with a distribution-free confidence interval of that median${modes.has('aa') ? `; 'plain A/A' = a second plain engine paired the same way: the measurement's own spread` : ''}`,
    );
    console.log('batch  drafter  k     tok/s   speedup  paired  alpha  alpha|p  acc.rate  c      mean k  S(a,c,k)  fraction  f(paired) S|p    frac|p  =plain  rounds  verify ms/round (v)  draft ms/round  [range of the paired ratios, confidence interval of their median (coverage); auto: rounds per k; ledger = time lost (+) or won (−) by k ≥ 1 rounds vs plain]');
    for (const B of batches) {
      const waves = wavesFor(B);
      // What an adaptive engine measures once per process at its start (memoized per decoder):
      // the target's verify-cost curve at one row and at B rows, the draft model's cost per k,
      // the cost of a cache slot. Measured here, before the timed runs, as the sessions are
      // opened above; printed, since a run's first engine pays it.
      const m0 = performance.now();
      const measuring = new ModelDrafter(draft);
      try {
        await measureStartUp(target, measuring, B, K_MAX);
      } finally {
        await measuring.dispose();
      }
      console.log(`${String(B).padEnd(6)} (adaptive k's start-up measurements, once per process: ${((performance.now() - m0) / 1000).toFixed(2)} s)`);
      const prompts = makePrompts(B * waves, config.vocabSize, 17 + B);
      const old = await generate(previous, { prompts, params, maxNewTokens: tokens, seed: 2 });
      const all: Array<[string, () => Drafter | null]> = [
        ['plain', () => null],
        ['model', () => new ModelDrafter(draft)],
        ...(stepwiseDraft ? [['model1', () => new ModelDrafter(draft, undefined, undefined, { multiStep: false })] as [string, () => Drafter]] : []),
        ['joint', () => new ModelDrafter(draft, undefined, undefined, { rounds })],
        ['ngram', () => new NgramDrafter()],
        [
          'reuse',
          () => {
            const reuse = new ReuseDrafter();
            old.forEach((o, i) => reuse.observe({
              id: `old-${i}`, type: 'RolloutCompleted', version: 1, runId: 'bench', step: 0, source: 'bench', seq: i, time: 0,
              data: { requestId: `old-${i}`, promptId: `p${i}`, groupIndex: 0, tokenIds: o.tokenIds, logprobs: o.logprobs, finishReason: 'length', weightsVersion: 0 },
            }));
            return reuse;
          },
        ],
      ];
      const makers = all.filter(([name]) => name === 'plain' || drafterNames.includes(name.replace(/1$/, '')));
      // 'auto': a fresh AdaptiveK per run (a cold start: it measures plain and explores k anew);
      // 'warm': one AdaptiveK kept across the repetitions, as `specstream train` and each worker
      // keep one across a run's steps — from the second repetition on, what it learnt before.
      // 'A/A': a second plain engine, paired against the plain runs around it like every other
      // row — its paired ratios are the measurement's own spread (the noise floor).
      // Each row: its label (the k column) and the engine's k.
      const rowsOf = (name: string): Array<[string, number | 'auto']> =>
        name === 'plain'
          ? [['0', 0], ...(modes.has('aa') ? [['A/A', 0] as [string, number]] : [])]
          : [...(modes.has('fixed') ? kList.map((k): [string, number] => [String(k), k]) : []), ...(name === 'joint' ? [] : (['auto', 'warm'] as const).filter((m) => modes.has(m)).map((m): [string, 'auto'] => [m, 'auto']))];
      const configs = makers.flatMap(([name, make]) =>
        rowsOf(name).map(([label, k]) => ({
          name, make, label, k, adaptive: k === 'auto', kept: label === 'warm' ? new AdaptiveK({ kMax: K_MAX }) : undefined,
        })),
      );
      let genSec = Infinity;
      let genTokens = 0;
      let reference: number[][] = [];
      const ratios = configs.map((): number[] => []); // per repetition: rate over the plain runs around it
      const best = configs.map(() => ({ sec: Infinity, emitted: 0, same: true, counters: emptyStats(), draftSeconds: 0, verifySeconds: 0, kSum: 0, rounds: 0, kCounts: [] as readonly number[], specRowRounds: 0, specEmitted: 0, explore: 0 }));
      const started = performance.now();
      for (let rep = 0; rep < reps; rep++) {
        // generate(): the reference rows, and the outputs greedy speculation must equal (once
        // without the generate rows).
        if (modes.has('generate') || rep === 0) {
          const out: number[][] = [];
          const generated = await timed(async () => {
            for (let w = 0; w < waves; w++) {
              const wave = prompts.slice(w * B, (w + 1) * B);
              const res = await generate(target, { prompts: wave, params, maxNewTokens: wave.map((_, j) => lengthOf(w * B + j)), seed: 1 });
              out.push(...res.map((r) => r.tokenIds));
            }
          });
          genSec = Math.min(genSec, generated.seconds);
          genTokens = out.reduce((n, t) => n + t.length, 0);
          reference = out;
        }
        // Odd repetitions run the configurations in reverse order: a machine that speeds up or
        // slows down during a repetition favours no position. Plain runs first, then after every
        // PLAIN_EVERY configurations and last: each configuration's paired ratio is taken against
        // the mean of the two plain runs around it (a shared GPU's speed drifts over tens of
        // seconds: H100, plain at batch 8, 2.2–3.5 s per run, the runs next to each other
        // within a few percent).
        const others = [...configs.entries()].slice(1);
        if (rep % 2 === 1) others.reverse();
        const order: Array<readonly [number, (typeof configs)[number]]> = [[0, configs[0]!]];
        others.forEach((o, i) => {
          order.push(o);
          if ((i + 1) % PLAIN_EVERY === 0 || i === others.length - 1) order.push([0, configs[0]!]);
        });
        const runRates: number[] = [];
        for (const [pos, [ci, cfg]] of order.entries()) {
          const trace: RoundTrace[] = [];
          const engine = new SpeculativeEngine({
            target, drafter: cfg.make(), k: cfg.k, kMax: K_MAX, maxBatchSize: B,
            ...(minJoinOpt !== undefined ? { minJoin: Math.min(minJoinOpt, B) } : {}),
            ...(cfg.kept ? { adaptiveK: cfg.kept } : {}),
            ...(traceDir ? { onRound: (r: RoundTrace) => trace.push(r) } : {}),
          });
          prompts.forEach((p, i) =>
            engine.add({ requestId: `r${i}`, promptId: `p${i}`, groupIndex: 0, promptTokenIds: p, sampling: { ...params, maxNewTokens: lengthOf(i), seed: 1000 + i, stopTokenIds: [], stopStrings: [] } }),
          );
          const { result: done, seconds: sec } = await timed(() => engine.runToCompletion());
          const t = engine.timings;
          const b = best[ci]!;
          const emitted = done.reduce((s, d) => s + d.tokenIds.length, 0);
          runRates.push(emitted / sec);
          // plain's fastest run: from its first run of each repetition (as many as the others)
          if (sec < b.sec && (ci !== 0 || pos === 0)) {
            Object.assign(b, { sec, emitted, counters: engine.counters, draftSeconds: t.draftSeconds, verifySeconds: t.verifySeconds, kSum: t.kSum, rounds: t.rounds, kCounts: t.kCounts, specRowRounds: t.specRowRounds, specEmitted: t.specEmitted,
              explore: engine.adaptiveK ? engine.adaptiveK.lossSeconds / Math.max(1e-12, engine.adaptiveK.elapsedSeconds) : 0 });
          }
          if (traceDir) {
            const file = join(traceDir, `spec-trace-b${B}-${cfg.name}-k${cfg.label.replace('/', '')}-rep${rep}${ci === 0 ? `-run${pos}` : ''}.jsonl`);
            await writeFile(file, trace.map((r) => JSON.stringify(r)).join('\n') + '\n');
          }
          if (temperature === 0) b.same &&= done.every((d) => { const i = Number(d.requestId.slice(1)); return d.tokenIds.join() === reference[i]!.join(); });
          await engine.dispose();
        }
        runs.push({ batch: B, rep, order: order.map(([, cfg]) => `${cfg.name} ${cfg.label}`), tokensPerSec: [...runRates] });
        // Paired ratios: each configuration against the mean of the plain runs around it.
        order.forEach(([ci], pos) => {
          if (ci === 0) return;
          let before = pos - 1;
          while (order[before]![0] !== 0) before--;
          let after = pos + 1;
          while (order[after]![0] !== 0) after++;
          ratios[ci]!.push(runRates[pos]! / ((runRates[before]! + runRates[after]!) / 2));
        });
        // Progress on stderr, with this repetition's paired ratios: a long run (a GPU call cut
        // off at its time limit) keeps what it measured so far in its log.
        process.stderr.write(
          `bench spec: batch ${B}, repetition ${rep + 1}/${reps} done (${((performance.now() - started) / 1000).toFixed(0)} s); paired: ` +
            configs.slice(1).map((cfg, i) => `${cfg.name} ${cfg.label} ${fmt(ratios[i + 1]!.at(-1)!)}`).join(', ') + '\n',
        );
      }
      const plain = best[0]!;
      const plainTps = plain.emitted / plain.sec;
      const plainStepSec = plain.verifySeconds / Math.max(1, plain.rounds);
      const genTps = genTokens / genSec;
      if (modes.has('generate')) {
        console.log(`${String(B).padEnd(6)} generate -     ${fmt(genTps, 1).padStart(7)}   ${fmt(genTps / plainTps)}`);
        rows.push({ batch: B, drafter: 'generate', k: '0', tokensPerSec: genTps, speedup: genTps / plainTps, paired: Number.NaN, alpha: 0, alphaIfProposed: 0, acceptanceRate: 0, c: 0, meanK: 0, theoretical: 1, fractionOfTheoretical: genTps / plainTps, fractionPaired: Number.NaN, theoreticalIfProposed: 1, fractionIfProposed: genTps / plainTps });
      }
      // c of a joint row: its draft runs inside the verify session, so its own draft time is only
      // the staging. The draft is the `model` row's (same decoder, same k): that row's c; without
      // one, the draft's measured cost per k over plain's step.
      const draftCost = drafterNames.includes('joint') ? await new ModelDrafter(draft).measureCost(B, K_MAX) : [];
      const jointCost = (label: string, kCounts: readonly number[]): number => {
        const model = configs.findIndex((c) => c.name === 'model' && c.label === label);
        if (model >= 0 && best[model]!.kSum > 0) return best[model]!.draftSeconds / best[model]!.kSum / plainStepSec;
        const kSum = kCounts.reduce((n, r, k) => n + r * k, 0);
        return kCounts.reduce((n, r, k) => n + r * (draftCost[k] ?? 0), 0) / Math.max(1, kSum) / plainStepSec;
      };
      configs.forEach((cfg, ci) => {
        const b = best[ci]!;
        const c = b.counters;
        const tps = b.emitted / b.sec;
        const paired = ci === 0 ? 1 : median(ratios[ci]!);
        const cost = b.kSum === 0 ? 0 : cfg.name === 'joint' ? jointCost(cfg.label, b.kCounts) : b.draftSeconds / b.kSum / plainStepSec;
        const kRound = b.rounds > 0 ? b.kSum / b.rounds : 0;
        // α̂ over every row-round that asked for drafts (an empty proposal: k rejected drafts).
        const specRounds = b.rounds - (b.kCounts[0] ?? 0);
        const kSpec = specRounds > 0 ? Math.round(b.kSum / specRounds) : 0;
        const alpha = alphaFromTokensPerRound(b.specRowRounds > 0 ? b.specEmitted / b.specRowRounds : 1, kSpec);
        // α̂ given a proposal (vLLM's counters), and the S a drafter proposing every round would give.
        const meanDraft = c.numDrafts > 0 ? c.numDraftTokens / c.numDrafts : 0;
        const alphaIfProposed = alphaFromTokensPerRound(c.numDrafts > 0 ? 1 + c.numAcceptedTokens / c.numDrafts : 1, Math.round(meanDraft));
        const sIfProposed = theoreticalSpeedup(alphaIfProposed, cost, kRound);
        // S for the rounds run: tokens per row-round (each row-round emits 1 + accepted) over the
        // ideal cost per round, 1 + k̄c (verification as cheap as a plain step).
        const rowRounds = Math.max(1, b.emitted - c.numAcceptedTokens);
        const S = b.emitted / rowRounds / (1 + kRound * cost);
        const row: Row = {
          batch: B, drafter: cfg.name, k: cfg.label, tokensPerSec: tps, speedup: tps / plainTps, paired, alpha, alphaIfProposed,
          acceptanceRate: c.numDraftTokens > 0 ? c.numAcceptedTokens / c.numDraftTokens : 0, c: cost, meanK: kRound,
          theoretical: S, fractionOfTheoretical: tps / plainTps / S, fractionPaired: paired / S,
          theoreticalIfProposed: sIfProposed, fractionIfProposed: tps / plainTps / sIfProposed,
          ...(ci > 0 ? { pairedRatios: [...ratios[ci]!], pairedInterval: medianInterval(ratios[ci]!, 0.9) } : {}),
          ...(cfg.adaptive ? { roundsPerK: [...b.kCounts], ledgerShare: b.explore } : {}),
        };
        rows.push(row);
        console.log(
          `${String(B).padEnd(6)} ${cfg.name.padEnd(8)} ${cfg.label.padEnd(5)} ${fmt(tps, 1).padStart(7)}   ${fmt(row.speedup)}     ${fmt(paired)}    ${fmt(alpha)}   ${fmt(alphaIfProposed)}     ${fmt(row.acceptanceRate)}      ${fmt(cost, 3)}  ${fmt(kRound)}    ${fmt(S)}      ${fmt(row.fractionOfTheoretical)}      ${fmt(row.fractionPaired)}     ${fmt(sIfProposed)}   ${fmt(row.fractionIfProposed)}      ${temperature === 0 ? (b.same ? 'yes' : 'NO ') : '-  '}     ${String(b.rounds).padStart(4)}    ${fmt((b.verifySeconds / Math.max(1, b.rounds)) * 1000).padStart(6)} (${fmt(b.verifySeconds / Math.max(1, b.rounds) / plainStepSec)})    ${fmt((b.draftSeconds / Math.max(1, b.rounds)) * 1000).padStart(6)}` +
            (row.pairedInterval ? `    paired ${fmt(Math.min(...ratios[ci]!))}–${fmt(Math.max(...ratios[ci]!))}, median ${fmt(row.pairedInterval.lo)}–${fmt(row.pairedInterval.hi)} (${Math.round(100 * row.pairedInterval.coverage)}%)` : '') +
            (cfg.adaptive ? `; k ${b.kCounts.map((n, k) => (n > 0 ? `${k}:${n}` : '')).filter(Boolean).join(' ')}; ledger ${b.explore >= 0 ? '+' : ''}${(100 * b.explore).toFixed(1)}%` : ''),
        );
      });
    }
    await rounds.release();
    await target.release();
    await draft.release();
    await previous.release();
    return { device, fused, config: { layers: config.numLayers, hidden: config.hiddenSize, vocab: config.vocabSize, draftLayers, refine, drift, tokens, sameLength, temperature, kFixed }, rows, runs };
  },
};
