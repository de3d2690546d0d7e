import type { Decoder } from '../runtime/Decoder.js';
import type { RoundDecoder } from '../runtime/roundDecoder.js';
import { uniformChance } from './chance.js';
import { argmaxOf, processedProbs } from './distributions.js';
import type { Draft, DraftSequence, Drafter, StagedRound } from './drafter.js';
import { KvBatch } from './kvBatch.js';
import { Xoshiro128 } from '../sampling/rng.js';
import { memoPerDecoder, warmUpDraft } from './warmUp.js';

/**
 * Draft-model drafter: a smaller decoder with the target's tokenizer proposes k tokens by
 * sampling autoregressively under the same sampling settings, with its own KV cache.
 *
 * The cache follows the verified sequence without being told what was rejected:
 * 1. Rows line up with the sequences by id; new sequences are prefilled (all tokens but the
 *    last) in one forward pass over the new rows.
 * 2. For each row, the cache keeps the longest common prefix of the tokens it holds and the
 *    verified sequence (capped so that at least the last token is fed again); everything after
 *    it — rejected drafts — is masked out, never copied.
 * 3. One forward over the uncached tail (usually the accepted drafts and the target's token)
 *    gives q₁; then k − 1 single-token forwards give q₂ … q_k. At temperature 0 the draft is the
 *    argmax (greedy verification needs no q); otherwise xᵢ ~ qᵢ, drawn from the sequence's own
 *    RNG, and qᵢ (processed like the target's p) goes to the acceptance rule.
 *    Greedy drafts with a decoder that has `greedyDraft` (loaded with `multiStepDraft`): the
 *    catch-up and all k steps are ONE session run of the unrolled draft graph.
 *
 * @example
 * const drafter = new ModelDrafter(await OrtDecoder.load('models/tiny-draft'));
 * const engine = new SpeculativeEngine({ target, drafter, k: 4, maxBatchSize: 8 });
 */
export class ModelDrafter implements Drafter {
  readonly name = 'model';
  private readonly batch: KvBatch;
  private readonly multiStep: boolean;
  private readonly greedyDrafts: boolean;
  /** Rows of finished sequences still in the cache (`release`). */
  private readonly finished = new Set<string>();
  /** The fixed k of joint rounds (`options.rounds`, set at `attach`); null: none. */
  private jointK: number | null = null;

  /**
   * @param compactAt see `KvBatch` (default 32; 0 = never compact the draft cache).
   * @param holeShare see `KvBatch` (default: by device, 0.25 on a CPU, 0.5 elsewhere).
   * @param options.multiStep draft all k tokens in one session run when the draft decoder can
   *   (`Decoder.greedyDraft`: loaded with `multiStepDraft`) and the drafts are greedy (default
   *   true). Same tokens as k single steps, without k − 1 session runs and logits downloads
   *   (H200, 4 steps: 10.6 instead of 12.2 ms at batch 1, 10.7 instead of 15.8 at batch 64).
   * @param options.greedyDrafts draft the argmax also for sampled sequences (temperature > 0):
   *   a point-mass draft (q = null), still exact under the acceptance rule, which lets sampled
   *   rollouts use the multi-step graph too; acceptance is p(argmax of q) instead of
   *   Σ min(p, q). Default false.
   * @param options.rounds joint rounds of this draft and the target (`OrtRoundDecoder.open`):
   *   with greedy drafts, the engine drafts and verifies in ONE session run per round
   *   (`stageRound`) instead of a draft run and a target run — for an engine with a fixed k
   *   (told at `attach`), whose session is opened there. Not with adaptive k: a session per k,
   *   each holding the target's weights and its own thread pool, and adaptive k prices rounds
   *   from the separate draft and verify costs; measured on the CPU, batch 1 and 8, it probed
   *   k = 1 and settled on k = 0 (0.87 / 0.98 of plain, paired) where the separate runs
   *   speculated (docs/speculative-decoding.md).
   */
  constructor(
    private readonly draft: Decoder,
    private readonly compactAt?: number,
    private readonly holeShare?: number,
    private readonly options: { readonly multiStep?: boolean; readonly greedyDrafts?: boolean; readonly rounds?: RoundDecoder } = {},
  ) {
    this.batch = new KvBatch(draft, compactAt, holeShare);
    this.multiStep = options.multiStep ?? true;
    this.greedyDrafts = options.greedyDrafts ?? false;
    if (options.rounds && options.rounds.draft !== draft) throw new Error(`ModelDrafter: options.rounds drafts with ${options.rounds.draft.info.name}, not with this drafter's ${draft.info.name}`);
  }

  async attach(target: { readonly vocabSize: number; readonly name: string; readonly kMax?: number; readonly ks?: readonly number[]; readonly maxBatchSize?: number }): Promise<void> {
    const V = this.draft.info.vocabSize;
    if (V !== target.vocabSize) {
      throw new Error(
        `draft model ${this.draft.info.name} has vocab_size ${V} but the target ${target.name} has ${target.vocabSize}: a draft model must share the target's tokenizer and vocabulary`,
      );
    }
    // Open the multi-step sessions now, not inside a measured round (adaptive k would charge
    // a session's creation to the first round of its k).
    const kMax = target.kMax ?? 0;
    if (this.multiStep && kMax > 0 && this.draft.prepareGreedyDraft) {
      await this.draft.prepareGreedyDraft(Array.from({ length: kMax }, (_, i) => i + 1));
    }
    if (kMax > 0) await warmUpDraft(this.draft, target.maxBatchSize ?? 1, this.multiStep && this.draft.greedyDraft ? kMax : 0);
    // Joint rounds for a fixed k only (`options.rounds`): its session opened and warmed now.
    const ks = target.ks ?? Array.from({ length: kMax }, (_, i) => i + 1);
    this.jointK = this.options.rounds && ks.length === 1 && ks[0]! > 0 ? ks[0]! : null;
    if (this.jointK !== null) await this.options.rounds!.prepare([this.jointK]);
  }

  /**
   * Seconds of one greedy `propose` of k tokens for `rows` sequences, k = 0 … kMax: the fastest
   * of 3 passes (after an untimed one) of a drafter of its own on the same decoder, over
   * sequences with a 33-token past that grow by two tokens per call (one draft accepted, then
   * the target's token: the usual catch-up). Measured once per decoder, row count and kMax.
   */
  measureCost(rows: number, kMax: number): Promise<readonly number[]> {
    return draftCosts(this.draft, `${rows}:${kMax}:${this.multiStep}`, async () => {
      const probe = new ModelDrafter(this.draft, this.compactAt, this.holeShare, this.options);
      const V = this.draft.info.vocabSize;
      const sampling = { temperature: 0, topK: 0, topP: 1, maxNewTokens: Number.MAX_SAFE_INTEGER, seed: 0, stopTokenIds: [], stopStrings: [] };
      let seqs: DraftSequence[] = Array.from({ length: rows }, (_, i) => ({
        id: `cost-${i}`, promptId: 'cost', groupIndex: i, promptLength: 33, sampling, rng: new Xoshiro128(i),
        tokens: Array.from({ length: 33 }, (_, j) => (7 * j + i) % V),
      }));
      const fastest = Array.from({ length: kMax + 1 }, (_, k) => (k === 0 ? 0 : Infinity));
      try {
        for (let pass = 0; pass <= 3; pass++) {
          for (let k = 1; k <= kMax; k++) {
            const t0 = performance.now();
            const drafts = await probe.propose(seqs, k);
            if (pass > 0) fastest[k] = Math.min(fastest[k]!, (performance.now() - t0) / 1000);
            seqs = seqs.map((s, b) => ({ ...s, tokens: [...s.tokens, drafts[b]!.tokens[0] ?? 0, (s.tokens.length * 7) % V] }));
          }
        }
      } finally {
        await probe.dispose();
      }
      return fastest;
    });
  }

  /** Rows the draft cache holds (finished sequences included until they are dropped). */
  get rows(): number {
    return this.batch.size;
  }

  /**
   * A sequence finished. Its row stays until the next `propose` drops it with the others (one
   * row gather then, not one per finished sequence) — or, once every row held has finished,
   * the cache is freed at once: a drafter that adaptive k stopped asking (k = 0) would
   * otherwise hold its prefilled rows, on the device, until the engine is disposed.
   */
  async release(id: string): Promise<void> {
    if (!this.batch.ids.includes(id)) return;
    this.finished.add(id);
    if (this.batch.ids.every((x) => this.finished.has(x))) {
      await this.batch.retain([]);
      this.finished.clear();
    }
  }

  /** Prefills joining sequences (all tokens but the last) in one forward over the new rows. */
  async prepare(sequences: readonly DraftSequence[]): Promise<void> {
    const known = new Set(this.batch.ids);
    const fresh = sequences.filter((s) => !known.has(s.id));
    if (fresh.length === 0) return;
    await this.batch.admit(fresh.map((s) => ({ id: s.id, tokens: s.tokens.slice(0, -1) })));
  }

  async propose(sequences: readonly DraftSequence[], k: number): Promise<Draft[]> {
    if (k < 1 || sequences.length === 0) return sequences.map(() => ({ tokens: [], q: null }));
    const { rowOf, byRow, tails } = await this.lineUp(sequences);
    // 3. Catch up, then draft k tokens: in one session run (greedy, multi-step graph), or step by step.
    const greedy = this.greedyDrafts || sequences.every((s) => s.sampling.temperature === 0);
    if (this.multiStep && greedy && this.batch.canDraftGreedy) {
      const drafted = await this.batch.appendGreedyDraft(tails, k);
      return sequences.map((s) => ({ tokens: drafted[rowOf.get(s.id)!]!, q: null }));
    }
    const tokens: number[][] = byRow.map(() => []);
    const qs: Float64Array[][] = byRow.map(() => []);
    let inputs: number[][] = tails;
    for (let i = 0; i < k; i++) {
      const { logits, tokensPerRow: T, vocabSize: V } = await this.batch.append(inputs);
      inputs = byRow.map((s, b) => {
        const j = inputs[b]!.length - 1;
        const row = logits.subarray((b * T + j) * V, (b * T + j + 1) * V);
        let x: number;
        if (s!.sampling.temperature === 0 || this.greedyDrafts) {
          x = argmaxOf(row);
        } else {
          const q = processedProbs(row, s!.sampling);
          x = uniformChance(s!.rng).categorical(q);
          qs[b]!.push(q);
        }
        tokens[b]!.push(x);
        return [x];
      });
    }
    return sequences.map((s) => {
      const b = rowOf.get(s.id)!;
      return { tokens: tokens[b]!, q: s.sampling.temperature === 0 || this.greedyDrafts ? null : qs[b]! };
    });
  }

  /**
   * A joint round (`Drafter.stageRound`): with a `RoundDecoder` for this draft and `target`
   * (the `rounds` option), the engine's fixed k and greedy drafts, lines the cache up with the sequences, in their
   * order, and lays out the catch-up + k-step draft input for the joint session.
   */
  async stageRound(sequences: readonly DraftSequence[], k: number, target: Decoder): Promise<StagedRound | null> {
    const rounds = this.options.rounds;
    if (!rounds || rounds.target !== target || k !== this.jointK || sequences.length === 0) return null;
    if (!this.greedyDrafts && !sequences.every((s) => s.sampling.temperature === 0)) return null;
    const { tails } = await this.lineUp(sequences, true);
    const staged = await this.batch.stageGreedyDraft(tails);
    return {
      rounds,
      input: staged.input,
      cache: staged.cache,
      finish: (drafts, cache) => {
        this.batch.commitGreedyDraft(staged, drafts, cache);
        return drafts.map((tokens) => ({ tokens: [...tokens], q: null }));
      },
    };
  }

  async dispose(): Promise<void> {
    this.batch.dispose();
  }

  /**
   * Lines the cache rows up with `sequences` (drops rows whose sequence left, prefills new ones;
   * `inOrder`: also puts the rows in the sequences' order) and rolls every row back to its
   * common prefix with the verified sequence. Returns each row's sequence and uncached tail.
   */
  private async lineUp(sequences: readonly DraftSequence[], inOrder = false): Promise<{ rowOf: Map<string, number>; byRow: DraftSequence[]; tails: number[][] }> {
    // 1. Line rows up with the sequences (drop rows whose sequence left, prefill new ones).
    const wanted = new Set(sequences.map((s) => s.id));
    await this.batch.retain(this.batch.ids.filter((id) => wanted.has(id)));
    this.finished.clear(); // finished rows are never wanted: retain dropped them
    await this.prepare(sequences);
    if (inOrder) await this.batch.retain(sequences.map((s) => s.id));
    const rowOf = new Map(this.batch.ids.map((id, i) => [id, i]));
    const byRow = this.batch.ids.map(() => undefined as DraftSequence | undefined);
    for (const s of sequences) byRow[rowOf.get(s.id)!] = s;
    // 2. Roll every row back to its common prefix with the verified sequence.
    const tails = byRow.map((s, b) => {
      const cached = this.batch.cachedTokens(b);
      const limit = Math.min(cached.length, s!.tokens.length - 1);
      let L = 0;
      while (L < limit && cached[L] === s!.tokens[L]) L++;
      this.batch.truncate(b, L);
      return s!.tokens.slice(L);
    });
    return { rowOf, byRow: byRow as DraftSequence[], tails };
  }
}

const draftCosts = memoPerDecoder<readonly number[]>();
