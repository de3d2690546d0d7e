import type { FinishReason, SamplingParams } from '../../events/index.js';
import type { Decoder } from '../runtime/Decoder.js';
import { Xoshiro128 } from '../sampling/rng.js';
import { acceptGreedy, acceptStochastic, type AcceptanceRule, type VerifyResult } from './acceptance.js';
import { AdaptiveK, cacheLead, frontierTokens, measuredSeconds } from './adaptiveK.js';
import { uniformChance, type Chance } from './chance.js';
import { emptyCounters, observeDraft, type SpecDecodeCounters } from './counters.js';
import { argmaxOf, processedProbs, reportedLogprob } from './distributions.js';
import type { Draft, DraftSequence, Drafter, StagedRound } from './drafter.js';
import { DepartureRent } from './departures.js';
import { measureStartUp, warmUpVerify } from './warmUp.js';
import { KvBatch, type BatchLogits } from './kvBatch.js';

/** One sequence to generate (the data of a `RolloutRequested`). */
export interface EngineRequest {
  readonly requestId: string;
  readonly promptId: string;
  readonly groupIndex: number;
  readonly promptTokenIds: readonly number[];
  readonly sampling: SamplingParams;
}

/** One verification round of one sequence (the data of a `DraftVerified`). */
export interface RoundRecord {
  readonly requestId: string;
  readonly drafter: string;
  readonly k: number;
  readonly proposed: number;
  readonly accepted: number;
  readonly emitted: number;
}

/** A finished sequence (the data of a `RolloutCompleted`, less the weights version). */
export interface CompletedSequence {
  readonly requestId: string;
  readonly promptId: string;
  readonly groupIndex: number;
  readonly tokenIds: number[];
  readonly logprobs: number[];
  readonly finishReason: FinishReason;
  /** This sequence's own counters (the `stats` of `specstream generate --format json`). */
  readonly counters: SpecDecodeCounters;
}

export interface EngineOptions {
  readonly target: Decoder;
  /** null: plain decoding (every round scores one position). */
  readonly drafter: Drafter | null;
  /** Draft length: a fixed k ≥ 0, or 'auto' (adaptive, 0 … kMax). */
  readonly k: number | 'auto';
  /** Upper bound of adaptive k (default 6). */
  readonly kMax?: number;
  /**
   * With k = 'auto': the adaptive-k state to use, shared with earlier engines (default: a new
   * one). Round costs depend on the model's shapes and the device, not on its weights, and
   * acceptance drifts slowly, so a training run keeps one across steps instead of measuring
   * plain decoding and exploring k anew at every step. Its kMax wins over `kMax`.
   */
  readonly adaptiveK?: AdaptiveK;
  /** Sequences verified together at most (continuous batching). */
  readonly maxBatchSize: number;
  /**
   * While requests wait, admit them only once at least this many rows are free (or all that
   * wait fit): default ⌈maxBatchSize / 4⌉; 1 joins at once, maxBatchSize runs static waves.
   * Every admission is a prefill and a copy of the whole running cache (`concatRows`), and a
   * joiner is left-padded to the running cache's length, so it attends over (and copies) slots
   * of the older rows' history: at batch 64 on an H100, admission took ~20% of a 3-wave run
   * joining one by one. Measured plain tokens/s, 3 waves of 64 (`docs/speculative-decoding.md`):
   * CPU 672 → 913 with 16, 1205 as static waves; H100 1523–1773 → 1932–1990 with 16,
   * 2085–2258 as static waves. Idle rows cost nothing on a CPU (cost follows rows) and little
   * on a GPU at large batch.
   */
  readonly minJoin?: number;
  /** Decodes generated ids to text, needed only for `stopStrings`. */
  readonly decode?: (ids: readonly number[]) => string;
  /** The stochastic acceptance rule (default: `acceptStochastic`); a test plugs in wrong ones. */
  readonly rule?: AcceptanceRule;
  /**
   * Compact the target cache (drop masked-out slots) once it has at least this many slots and
   * they are mostly holes (default 32; 0 = never). See `KvBatch`.
   */
  readonly compactAt?: number;
  /** Share of holes (masked-out slots) that triggers compaction (default: `KvBatch`'s, by device). */
  readonly compactShare?: number;
  /** Called with the tokens (and their logprobs) each round appends to a sequence (streaming). */
  readonly onTokens?: (requestId: string, tokens: readonly number[], logprobs: readonly number[]) => void;
  /** Wall clock in seconds for the adaptive-k cost model (default `performance.now() / 1000`). */
  readonly clock?: () => number;
  /** Called after every round with its measurements (benchmark traces, debugging adaptive k). */
  readonly onRound?: (trace: RoundTrace) => void;
}

/** One engine round as measured (`EngineOptions.onRound`). Seconds are wall clock. */
export interface RoundTrace {
  readonly k: number;
  /** Rows verified in the round. */
  readonly batchSize: number;
  /** Rows admitted at the start of the step. */
  readonly joiners: number;
  /** Tokens emitted in the round over all rows (joiners' first tokens not included). */
  readonly emitted: number;
  /** What adaptive k counted for the round (tokens per row; see `RoundMeasurement`). */
  readonly tokensPerRow: number;
  readonly admitSeconds: number;
  readonly draftSeconds: number;
  readonly verifySeconds: number;
  /** Departures after the round (cache row gather). */
  readonly retireSeconds: number;
  /** Seconds adaptive k was given for the round (`measuredSeconds`). */
  readonly measuredSeconds: number;
  /** Cache slots per row after the round. */
  readonly pastLength: number;
  /** Cache rows after the round: the running sequences and finished ones not yet dropped. */
  readonly cacheRows: number;
  /** Adaptive k's plain reference R(b, 0) (tokens per row per second) before the round, if any. */
  readonly plainRate?: number;
  /** Adaptive k's ledger after the round (seconds lost by k ≥ 1 rounds; negative: won). */
  readonly ledger?: number;
  /** k ≥ 1: slots the round grew the cache by beyond the rows' mean progress (`CacheLead`). */
  readonly leadSlots?: number;
}

/** Tokens a sequence may still generate (its length budget; a stop token may end it sooner). */
const remaining = (a: Active): number => a.req.sampling.maxNewTokens - a.generated.length;

interface Active {
  readonly req: EngineRequest;
  readonly tokens: number[];
  readonly generated: number[];
  readonly logprobs: number[];
  readonly rng: Xoshiro128;
  readonly chance: Chance;
  readonly stopIds: ReadonlySet<number>;
  counters: SpecDecodeCounters;
  finish: FinishReason | null;
  /**
   * Shadow draft (`Drafter.free`, adaptive k at k = 0): the proposal made at an earlier plain
   * round, and how many of its tokens plain decoding has emitted since, in order.
   */
  shadow: { readonly tokens: readonly number[]; matched: number } | null;
  /** Tokens of the sequence when the drafter last drafted for it (0: never). */
  drafted: number;
}

/** Wall-clock split of the engine's rounds (for benchmarks: c = draft step cost / target step cost). */
export interface EngineTimings {
  readonly rounds: number;
  /** Σ k over rounds (the k asked for). */
  readonly kSum: number;
  /** Rounds per k: `kCounts[k]` rounds asked for k drafts. */
  readonly kCounts: readonly number[];
  /** Σ rows over rounds with k ≥ 1 (row-rounds that asked the drafter, proposal or not). */
  readonly specRowRounds: number;
  /** Tokens those row-rounds emitted (1 + accepted each, cut by stop conditions). */
  readonly specEmitted: number;
  /** Drafting, a stateful drafter's catch-up included. */
  readonly draftSeconds: number;
  /** Target forward (cache compaction included) + acceptance. */
  readonly verifySeconds: number;
}

/** What one `step()` produced. */
export interface StepResult {
  readonly k: number;
  readonly rounds: RoundRecord[];
  readonly completed: CompletedSequence[];
}

/**
 * Lossless speculative decoding with continuous batching on a target `Decoder`.
 *
 * One `step()`:
 * 1. Admit waiting requests up to `maxBatchSize` (with rows running, once `minJoin` rows are
 *    free or all that wait fit): their prompts are prefilled in one forward
 *    pass over the new rows (left-padded, last position's logits only) and joined to the
 *    running cache; each joiner's first token comes from those logits, as in plain decoding (a
 *    round with k = 0). From then on every row keeps one "pending" token: verified, not yet in
 *    the target cache. With a fixed k ≥ 1 the drafter's `prepare` prefills its own state for the
 *    joiners (outside the draft cost); with adaptive k only while adaptive k wants the
 *    drafter's state (`AdaptiveK.wantsDraftState`), else it is left to catch up lazily.
 * 2. Choose k (fixed, or adaptive from the measured wall-clock tokens/s of each k at this batch
 *    size). k = 0 is exactly a plain decode step: the drafter is not called. With k ≥ 1 the
 *    drafter proposes up to k tokens per sequence (cut to what the sequence may still emit).
 * 3. One target forward over [pending, x₁ … x_k] per row (T = 1 + longest draft; shorter rows
 *    padded and masked) gives p at the k+1 positions.
 * 4. Per row: greedy (temperature 0) accepts while xᵢ = argmax; otherwise the stochastic rule
 *    (REFERENCE.md) on processed p and q (or point masses). Every emitted token gets the logprob
 *    a plain decode reports: processed distribution at temperature > 0, raw log-softmax at 0.
 * 5. Rejected drafts leave the target cache by masking (0 in attention_mask), not copying;
 *    stop tokens, stop strings and maxNewTokens cut the emitted tokens.
 * 6. Counters: observe_draft(proposed, accepted) per row; finished rows leave the batch.
 *
 * @example
 * const engine = new SpeculativeEngine({ target, drafter: new NgramDrafter(), k: 'auto', maxBatchSize: 8 });
 * engine.add(request);
 * while (!engine.idle) for (const c of (await engine.step()).completed) console.log(c.tokenIds);
 */
export class SpeculativeEngine {
  private readonly waiting: EngineRequest[] = [];
  private active: Active[] = [];
  private readonly batch: KvBatch;
  private readonly adaptive: AdaptiveK | null;
  private readonly rule: AcceptanceRule;
  private readonly clock: () => number;
  private readonly minJoin: number;
  private attached = false;
  private readonly departures = new DepartureRent();
  /** k of the previous round (a switch back to 0 compacts the cache). */
  private lastK = 0;
  private countersTotal: SpecDecodeCounters = emptyCounters;
  private readonly time = { rounds: 0, kSum: 0, kCounts: [] as number[], specRowRounds: 0, specEmitted: 0, draftSeconds: 0, verifySeconds: 0 };

  constructor(private readonly options: EngineOptions) {
    const { k, maxBatchSize } = options;
    if (k !== 'auto' && (!Number.isInteger(k) || k < 0)) throw new Error(`SpeculativeEngine: k must be an integer ≥ 0 or 'auto', received ${k}`);
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new Error(`SpeculativeEngine: maxBatchSize must be an integer ≥ 1, received ${maxBatchSize}`);
    }
    this.minJoin = options.minJoin ?? Math.ceil(maxBatchSize / 4);
    if (!Number.isInteger(this.minJoin) || this.minJoin < 1 || this.minJoin > maxBatchSize) {
      throw new Error(`SpeculativeEngine: minJoin must be an integer in [1, maxBatchSize = ${maxBatchSize}], received ${options.minJoin}`);
    }
    if (k !== 0 && options.drafter === null) throw new Error(`SpeculativeEngine: k = ${k} needs a drafter (use k = 0 for plain decoding)`);
    this.batch = new KvBatch(options.target, options.compactAt, options.compactShare);
    this.adaptive = k === 'auto' ? (options.adaptiveK ?? new AdaptiveK({ kMax: options.kMax ?? 6 })) : null;
    this.rule = options.rule ?? acceptStochastic;
    this.clock = options.clock ?? (() => performance.now() / 1000);
  }

  /** Queues a request; it joins the batch at the next step with a free row. */
  add(req: EngineRequest): void {
    if (req.promptTokenIds.length === 0) throw new Error(`request ${req.requestId}: promptTokenIds is empty (need at least one token)`);
    const V = this.options.target.info.vocabSize;
    const bad = req.promptTokenIds.find((t) => !Number.isInteger(t) || t < 0 || t >= V);
    if (bad !== undefined) throw new Error(`request ${req.requestId}: prompt token ${bad} is outside the vocabulary [0, ${V}) of ${this.options.target.info.name}`);
    if (req.sampling.stopStrings.length > 0 && !this.options.decode) {
      throw new Error(`request ${req.requestId}: stopStrings need a tokenizer (EngineOptions.decode); the model ${this.options.target.info.name} has none`);
    }
    this.waiting.push(req);
  }

  /** No sequence running or waiting. */
  get idle(): boolean {
    return this.waiting.length === 0 && this.active.length === 0;
  }

  get running(): number {
    return this.active.length;
  }

  /** This engine's counters since construction (monotonic). */
  get counters(): SpecDecodeCounters {
    return this.countersTotal;
  }

  /** Adaptive k's state (null for a fixed k): measured rates, the exploration ledger. */
  get adaptiveK(): AdaptiveK | null {
    return this.adaptive;
  }

  /** Time spent so far, split into drafting and verifying (a snapshot). */
  get timings(): EngineTimings {
    return { ...this.time, kCounts: [...this.time.kCounts] };
  }

  /** One verification round over the running batch (admitting waiting requests first). */
  async step(): Promise<StepResult> {
    if (!this.attached) {
      const kMax = this.adaptive ? this.adaptive.kMax : (this.options.k as number);
      const { target, drafter, maxBatchSize } = this.options;
      const ks = this.adaptive ? Array.from({ length: kMax }, (_, i) => i + 1) : kMax > 0 ? [kMax] : [];
      await drafter?.attach?.({ vocabSize: target.info.vocabSize, name: target.info.name, kMax, ks, maxBatchSize });
      if (drafter && kMax > 0) await warmUpVerify(target);
      // Adaptive k's first price of a cache slot (a wave's first speculative rounds leave the
      // lead it prices) and its cost curves, before its own rounds measure anything.
      if (this.adaptive && drafter && kMax > 0) {
        const measured = await measureStartUp(target, drafter, maxBatchSize, kMax);
        if (measured.slotCost !== undefined) this.adaptive.observeSlotCost(maxBatchSize, measured.slotCost);
        for (const { rows, verify, draft } of measured.curves) {
          this.adaptive.observeVerifyCurve(rows, verify);
          if (draft) this.adaptive.observeDraftCurve(rows, draft);
        }
      }
      this.attached = true;
    }
    const start = this.clock();
    // Joiners: prefill, and their first token from the prefill logits (a round with k = 0).
    const rounds: RoundRecord[] = await this.admit();
    const admitted = this.clock();
    const joiners = rounds.length;
    const completed = await this.retire();
    if (this.active.length === 0) return { k: 0, rounds, completed };
    // Once the waiting requests fit in the rows that free up (less than a wave left), the work
    // ends with the slowest rows, and speculation that leaves them behind does not end it
    // sooner. With a full wave or more waiting, every row's tokens count (a freed row is
    // refilled at once).
    const queued = this.waiting.length >= this.active.length;
    const remainingBefore = this.active.map(remaining);
    // A stateful drafter (not `free`) catches up on what it missed when speculation turns on.
    const catchUp = this.adaptive && this.options.drafter?.free !== true ? this.active.reduce((n, a) => n + a.tokens.length - a.drafted, 0) / this.active.length : 0;
    // Rows' lengths: the cache lead a speculative round would leave (`CacheLead`). While a wave
    // waits, it outlives the rows that made it: joiners are padded to the cache's length, and
    // the slots go only once a quarter of the cache is holes (CPU; `KvBatch`) — so it is carried
    // as long as any running row runs. (CPU, batch 8, rollout reuse: the second wave ran on the
    // first wave's lead until a compaction at its admission.)
    const lengths = this.active.map((a) => a.tokens.length);
    const carried = (left: number[]) => {
      const most = Math.max(...left);
      return queued ? left.map(() => most) : left;
    };
    const k = this.adaptive ? this.adaptive.choose(this.active.length, catchUp, { lengths, remaining: carried(remainingBefore), ids: this.active.map((a) => a.req.requestId) }) : (this.options.k as number);
    // Speculation stops: its rejected drafts stay in the cache as holes that every later plain
    // round attends over and copies (H200, batch 64: 4 probe rounds left 13 hole slots per row,
    // +4% on each of the ~80 rounds after; CPU, batch 64: 2 probe rounds, 2 holes in 25 slots,
    // +3% on the rest of the wave). Drop them now (one copy of the cache) if the plain rounds
    // ahead — at least as many as the longest row has tokens left — would carry more hole slots
    // than the cache has slots. In the step's time, which adaptive k measures; in neither draft
    // nor verify time.
    if (k === 0 && this.lastK > 0 && this.batch.reclaimable * Math.max(...remainingBefore) >= this.batch.pastLength) await this.batch.compact(true);
    this.lastK = k;
    // A free drafter keeps acceptance measured while speculation is off (in the round's time).
    const shadowing = k === 0 && this.adaptive !== null && this.adaptive.kMax > 0 && this.options.drafter?.free === true;
    // A speculative round measures acceptance itself: pending shadows end unjudged.
    if (k > 0) for (const a of this.active) a.shadow = null;
    const t0 = this.clock();
    if (k > 0) for (const a of this.active) a.drafted = a.tokens.length;
    // A drafter with joint rounds (a draft model and `RoundDecoder`): drafting and verification
    // in one session run, staged here (draft time), run below (verify time).
    const staged = k > 0 ? await this.options.drafter!.stageRound?.(this.active.map((a) => this.draftSequence(a)), k, this.options.target) : null;
    // Joint rounds need the target's rows to be the running rows, in order: finished rows leave now.
    if (staged) await this.dropFinished();
    const drafts = staged ? null : k > 0 ? await this.propose(k) : this.active.map((): Draft => ({ tokens: [], q: null }));
    if (shadowing) await this.proposeShadows();
    const t1 = this.clock();
    // Cache rows: the running sequences and finished ones not yet dropped (`retire`), fed nothing.
    const rowOf = this.cacheRows();
    const pastLength = this.batch.pastLength;
    const { out, drafts: verified } = staged ? await this.jointRound(staged, k) : await this.appendDrafts(rowOf, drafts!);
    const T = out.tokensPerRow;
    const V = out.vocabSize;
    let emitted = 0;
    this.active.forEach((a, i) => {
      const b = rowOf[i]!;
      const row = (j: number) => out.logits.subarray((b * T + j) * V, (b * T + j + 1) * V);
      const record = this.verifyRow(a, b, verified[i]!, k, row);
      emitted += record.emitted;
      rounds.push(record);
      if (shadowing) this.followShadow(a);
    });
    const t2 = this.clock();
    const time = this.time;
    time.rounds++;
    time.kSum += k;
    for (let i = time.kCounts.length; i <= k; i++) time.kCounts.push(0);
    time.kCounts[k]!++;
    if (k > 0) {
      time.specRowRounds += this.active.length;
      time.specEmitted += emitted;
    }
    time.draftSeconds += t1 - t0;
    time.verifySeconds += t2 - t1;
    // Finished rows still in the cache cost their share of the forward; once that rent adds up
    // to what dropping them costs, drop them (before the departures below).
    if (this.departures.carried(this.batch.size - this.active.length, this.batch.size, t2 - t1)) await this.dropFinished();
    // Adaptive k judges the whole round by the clock (draft, catch-up, verify, compaction, host).
    const batchSize = this.active.length;
    // Less than a wave waiting: how far the round brought the end of the work closer (not the
    // critical row's own tokens, which credit speculation with the luck of one row among many
    // near-tied ones; see `frontierTokens`).
    const tokensPerRow = queued
      ? emitted / batchSize
      : frontierTokens(
          remainingBefore,
          this.active.map((a, b) => remainingBefore[b]! - remaining(a)),
          this.active.map((a) => a.finish !== null),
        );
    const lead = k > 0 ? cacheLead(lengths, this.active.map((a) => a.tokens.length), carried(this.active.map((a) => (a.finish === null ? remaining(a) : 0)))) : undefined;
    completed.push(...(await this.retire()));
    const t3 = this.clock();
    // The whole step counts, joins and departures included: rows that speculation brings out of
    // step leave and join one by one, each a cache copy that plain decoding does once per wave.
    // A wave's admission (its prefill, the same for every k) is left out: `measuredSeconds`.
    const seconds = measuredSeconds(t3 - start, admitted - start, joiners, batchSize);
    // The plain reference the round is judged against, for the trace only.
    const plainRate = this.options.onRound ? this.adaptive?.plainRate(batchSize) : undefined;
    this.adaptive?.observeRound({ batchSize, k, tokensPerRow, seconds, pastLength, ...(k > 0 ? { catchUp } : {}), ...(lead ? { lead } : {}) });
    this.options.onRound?.({
      k, batchSize, joiners, emitted, tokensPerRow,
      admitSeconds: admitted - start, draftSeconds: t1 - t0, verifySeconds: t2 - t1, retireSeconds: t3 - t2, measuredSeconds: seconds,
      pastLength: this.batch.pastLength,
      cacheRows: this.batch.size,
      ...(lead ? { leadSlots: lead.slots } : {}),
      ...(plainRate !== undefined ? { plainRate } : {}),
      ...(this.adaptive ? { ledger: this.adaptive.lossSeconds } : {}),
    });
    return { k, rounds, completed };
  }

  /** Runs every queued request to completion; returns them in completion order. */
  async runToCompletion(): Promise<CompletedSequence[]> {
    const done: CompletedSequence[] = [];
    while (!this.idle) done.push(...(await this.step()).completed);
    return done;
  }

  /** Frees the caches (the decoders themselves belong to the caller). */
  async dispose(): Promise<void> {
    this.batch.dispose();
    await this.options.drafter?.dispose?.();
  }

  private async admit(): Promise<RoundRecord[]> {
    const joiners: Active[] = [];
    // Batched admission: with rows running, wait until minJoin rows are free (or all fit).
    const free = this.options.maxBatchSize - this.active.length;
    if (this.active.length > 0 && free < Math.min(this.minJoin, this.waiting.length)) return [];
    while (this.waiting.length > 0 && this.active.length + joiners.length < this.options.maxBatchSize) {
      const req = this.waiting.shift()!;
      const rng = new Xoshiro128(req.sampling.seed);
      joiners.push({
        req,
        tokens: [...req.promptTokenIds],
        generated: [],
        logprobs: [],
        rng,
        chance: uniformChance(rng),
        stopIds: new Set([...this.options.target.info.eosTokenIds, ...req.sampling.stopTokenIds]),
        counters: emptyCounters,
        finish: null,
        shadow: null,
        drafted: 0,
      });
    }
    if (joiners.length === 0) return [];
    // Joiners are appended after the running rows: finished rows leave the cache first.
    await this.dropFinished();
    const first = this.active.length;
    const out = await this.batch.admit(joiners.map((j) => ({ id: j.req.requestId, tokens: j.tokens })));
    this.active.push(...joiners);
    const V = out.vocabSize;
    const rounds = joiners.map((a, i) => this.verifyRow(a, first + i, { tokens: [], q: null }, 0, () => out.logits.subarray(i * V, (i + 1) * V)));
    const live = joiners.filter((a) => a.finish === null);
    // A fixed k drafts every round: prefill the drafter's state now, outside the draft cost.
    // Adaptive k: the same while the batch size's bucket speculates or is about to explore
    // (`AdaptiveK.wantsDraftState`); once it has settled on k = 0 the drafter does no work at
    // all, and a stateful drafter catches up in its first `propose` (one forward over what it
    // missed), a cost adaptive k prices into any switch back in.
    const prefill = this.adaptive ? this.options.drafter?.free !== true && this.adaptive.wantsDraftState(this.active.length) : typeof this.options.k === 'number' && this.options.k > 0;
    if (prefill && live.length > 0 && this.options.drafter?.prepare) {
      const t0 = this.clock();
      await this.options.drafter.prepare(live.map((a) => this.draftSequence(a)));
      // A prefill is a catch-up over the joiners' tokens: adaptive k's first price for one.
      const rowTokens = live.reduce((n, a) => n + a.tokens.length - 1, 0) / this.active.length;
      this.adaptive?.observeCatchUp(this.active.length, rowTokens, this.clock() - t0);
      for (const a of live) a.drafted = a.tokens.length;
    }
    return rounds;
  }

  private async propose(k: number): Promise<Draft[]> {
    const seqs = this.active.map((a) => this.draftSequence(a));
    return this.checkDrafts(await this.options.drafter!.propose(seqs, k), k);
  }

  /** The target's forward over each running row's pending token and draft (finished rows: nothing). */
  private async appendDrafts(rowOf: readonly number[], drafts: Draft[]): Promise<{ out: BatchLogits; drafts: Draft[] }> {
    const feed: number[][] = Array.from({ length: this.batch.size }, () => []);
    this.active.forEach((a, i) => (feed[rowOf[i]!] = [a.tokens[a.tokens.length - 1]!, ...drafts[i]!.tokens]));
    return { out: await this.batch.append(feed), drafts };
  }

  /**
   * A joint round: the target's cache rows take [pending, k placeholders] per row; one session
   * run drafts and verifies; the drafts replace the placeholders. Every row carries k drafts
   * in the cache; those past what a row may still emit are cut from its `Draft` (as `propose`
   * cuts proposals) and masked out with the rejected ones by `verifyRow`.
   */
  private async jointRound(staged: StagedRound, k: number): Promise<{ out: BatchLogits; drafts: Draft[] }> {
    const target = await this.batch.stage(this.active.map((a) => [a.tokens[a.tokens.length - 1]!, ...new Array<number>(k).fill(0)]), 'right', 'jointRound');
    const run = await staged.rounds.round(k, { input: target.input, prefix: 1, cache: target.cache }, { input: staged.input, cache: staged.cache });
    this.batch.commit(run.cache);
    const raw = staged.finish(run.drafts, run.draftCache);
    raw.forEach((d, b) => this.batch.rewriteTail(b, d.tokens));
    return { out: { logits: run.logits, tokensPerRow: run.dims[1], vocabSize: run.dims[2] }, drafts: this.checkDrafts(raw, k) };
  }

  /** Checks a drafter's drafts (count, vocabulary, q rows) and cuts each to what its row may still emit. */
  private checkDrafts(drafts: Draft[], k: number): Draft[] {
    const n0 = this.active.length;
    if (drafts.length !== n0) {
      throw new Error(`drafter "${this.options.drafter!.name}" returned ${drafts.length} drafts for ${n0} sequences`);
    }
    const V = this.options.target.info.vocabSize;
    return drafts.map((d, b) => {
      const a = this.active[b]!;
      const bad = d.tokens.find((t) => !Number.isInteger(t) || t < 0 || t >= V);
      if (bad !== undefined) throw new Error(`drafter "${this.options.drafter!.name}" proposed token ${bad}, outside the target vocabulary [0, ${V})`);
      if (d.q !== null && d.q.length < d.tokens.length) {
        throw new Error(`drafter "${this.options.drafter!.name}" returned ${d.q.length} q rows for ${d.tokens.length} tokens`);
      }
      // At most k, and at most one less than the tokens the sequence may still emit (the
      // target always adds one): drafts past maxNewTokens would be thrown away anyway.
      const room = Math.max(0, a.req.sampling.maxNewTokens - a.generated.length - 1);
      const n = Math.min(k, room, d.tokens.length);
      return n === d.tokens.length ? d : { tokens: d.tokens.slice(0, n), q: d.q ? d.q.slice(0, n) : null };
    });
  }

  /**
   * Shadow drafting (`Drafter.free`): rows without a pending shadow get a proposal of up to
   * kMax tokens (cut to what the row may still emit, as in `propose`); none, or one with
   * probabilities, counts as kMax rejected positions at once, as an empty proposal does in a
   * speculative round.
   */
  private async proposeShadows(): Promise<void> {
    const rows = this.active.filter((a) => a.shadow === null);
    if (rows.length === 0) return;
    const kMax = this.adaptive!.kMax;
    const drafts = await this.options.drafter!.propose(rows.map((a) => this.draftSequence(a)), kMax);
    rows.forEach((a, i) => {
      const d = drafts[i];
      const room = Math.max(0, a.req.sampling.maxNewTokens - a.generated.length - 1);
      const tokens = d && d.q === null ? d.tokens.slice(0, Math.min(kMax, room)) : [];
      if (tokens.length === 0) this.adaptive!.observeShadow(kMax, 0, 0, a.req.requestId);
      else a.shadow = { tokens, matched: 0 };
    });
  }

  /**
   * Compares the token a plain round emitted with the row's shadow draft. It ends as a
   * speculative round with the same draft would: at the first mismatch (that token is the
   * target's replacement), or after the bonus token once every draft matched; then acceptance
   * gets one observation, and the next round drafts anew from there. A row that finishes
   * first drops it (its later positions were never judged).
   */
  private followShadow(a: Active): void {
    const sh = a.shadow;
    if (!sh) return;
    if (a.finish !== null) {
      a.shadow = null;
      return;
    }
    const token = a.generated[a.generated.length - 1];
    if (sh.matched < sh.tokens.length && token === sh.tokens[sh.matched]) {
      sh.matched++;
      return;
    }
    this.adaptive!.observeShadow(this.adaptive!.kMax, sh.matched, sh.tokens.length, a.req.requestId);
    a.shadow = null;
  }

  private draftSequence(a: Active): DraftSequence {
    return {
      id: a.req.requestId,
      promptId: a.req.promptId,
      groupIndex: a.req.groupIndex,
      tokens: a.tokens,
      promptLength: a.req.promptTokenIds.length,
      sampling: a.req.sampling,
      rng: a.rng,
    };
  }

  /**
   * Accepts/rejects one row's draft and appends the emitted tokens. `row(j)` is the target's
   * logits at position j (scoring draft j, or the bonus at j = n); `b` is the row in the cache.
   */
  private verifyRow(a: Active, b: number, draft: Draft, k: number, row: (j: number) => Float32Array): RoundRecord {
    const n = draft.tokens.length;
    const s = a.req.sampling;
    let result: VerifyResult;
    let probs: Float64Array[] | null = null;
    if (s.temperature === 0) {
      result = acceptGreedy(draft.tokens, Array.from({ length: n + 1 }, (_, j) => argmaxOf(row(j))));
    } else {
      probs = Array.from({ length: n + 1 }, (_, j) => processedProbs(row(j), s));
      result = this.rule({ draft: draft.tokens, p: probs, q: draft.q }, a.chance);
    }
    // Cut at a stop condition or the length budget; position j's logprob comes from row j.
    let emitted = 0;
    for (const token of result.tokens) {
      const j = emitted;
      a.tokens.push(token);
      a.generated.push(token);
      a.logprobs.push(probs ? Math.log(probs[j]![token]!) : reportedLogprob(row(j), token, s));
      emitted++;
      if (a.stopIds.has(token)) a.finish = 'stop';
      else if (s.stopStrings.length > 0 && this.hitsStopString(a)) a.finish = 'stop_string';
      else if (a.generated.length >= s.maxNewTokens) a.finish = 'length';
      if (a.finish) break;
    }
    // Cache: the pending token and the accepted drafts are valid; the rest is masked out.
    // Valid: every verified token but the new pending one (the last emitted): the old pending
    // token and the drafts that were emitted, i.e. a prefix of what this round appended.
    this.batch.truncate(b, a.tokens.length - 1);
    const accepted = Math.min(result.accepted, emitted);
    this.options.onTokens?.(a.req.requestId, a.generated.slice(-emitted), a.logprobs.slice(-emitted));
    a.counters = observeDraft(a.counters, n, result.accepted, k);
    this.countersTotal = observeDraft(this.countersTotal, n, result.accepted, k);
    this.adaptive?.observeAcceptance(k, result.accepted, n, a.req.requestId);
    this.options.drafter?.verified?.(a.req.requestId, { accepted, emitted: a.generated.slice(-emitted) });
    return { requestId: a.req.requestId, drafter: this.options.drafter?.name ?? 'none', k, proposed: n, accepted: result.accepted, emitted };
  }

  /** The cache row of each running sequence (`active` order). */
  private cacheRows(): number[] {
    const ids = this.batch.ids;
    if (ids.length === this.active.length) return this.active.map((_, i) => i);
    const rowOf = new Map(ids.map((id, i) => [id, i]));
    return this.active.map((a) => rowOf.get(a.req.requestId)!);
  }

  /** Drops the cache rows of finished sequences (one row gather), timed for `DepartureRent`. */
  private async dropFinished(): Promise<void> {
    if (this.batch.size === this.active.length) return;
    const t0 = this.clock();
    await this.batch.retain(this.active.map((a) => a.req.requestId));
    this.departures.dropped(this.clock() - t0);
  }

  private hitsStopString(a: Active): boolean {
    const text = this.options.decode!(a.generated);
    return a.req.sampling.stopStrings.some((stop) => text.includes(stop));
  }

  /**
   * Finished sequences leave the batch. Their cache rows stay, masked out and fed nothing, until
   * `DepartureRent` says dropping them pays, requests join, or no row runs.
   */
  private async retire(): Promise<CompletedSequence[]> {
    const done = this.active.filter((a) => a.finish !== null);
    if (done.length === 0) return [];
    const rows = this.cacheRows();
    this.active.forEach((a, i) => a.finish !== null && this.batch.truncate(rows[i]!, 0));
    this.active = this.active.filter((a) => a.finish === null);
    if (this.active.length === 0) await this.dropFinished();
    for (const a of done) await this.options.drafter?.release?.(a.req.requestId);
    return done.map((a) => ({
      requestId: a.req.requestId,
      promptId: a.req.promptId,
      groupIndex: a.req.groupIndex,
      tokenIds: a.generated,
      logprobs: a.logprobs,
      finishReason: a.finish!,
      counters: a.counters,
    }));
  }
}
