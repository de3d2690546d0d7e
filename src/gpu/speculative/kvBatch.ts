import type { Decoder, ForwardInput, KvCache } from '../runtime/Decoder.js';

/** Per-row bookkeeping of a batch cache whose holes are masked, never copied out. */
interface RowState {
  readonly id: string;
  /** 0/1 per cache slot: 1 = a valid token the row attends to. */
  mask: number[];
  /** Tokens held in valid slots, in sequence order. */
  tokens: number[];
  /** Slot index of each of `tokens`. */
  slots: number[];
}

/** An append laid out by `KvBatch.stage`, its session run still to come. */
export interface StagedAppend {
  readonly input: ForwardInput;
  /** The batch's cache, to be consumed by the run. */
  readonly cache: KvCache;
  /** Slots per row before the append. */
  readonly past: number;
  /** New columns per row. */
  readonly T: number;
}

/** Logits of one `append`/`admit` call: row b's j-th new token is at `(b·T + j)·V`. */
export interface BatchLogits {
  readonly logits: Float32Array;
  readonly tokensPerRow: number;
  readonly vocabSize: number;
}

/**
 * A batch of sequences sharing one KV cache on a `Decoder`, where a row's rejected tokens stay
 * in the cache but are masked out (attention_mask 0) and positions are passed explicitly, so
 * rolling a row back costs nothing on the device (DESIGN.md: masking, not copying). Used by the
 * speculative engine for the target and by the draft-model drafter for the draft.
 *
 * Invariants per row: `tokens[i]` sits in slot `slots[i]`, its position id is i, and exactly the
 * slots in `slots` have mask 1. The cache may hold more slots than any row uses (holes, padding).
 */
export class KvBatch {
  private rowStates: RowState[] = [];
  private cache: KvCache;

  /**
   * @param compactAt compact (drop masked-out slots, `KvCache.gatherSlots`) before a forward
   *   once the cache has at least this many slots and at least `holeShare` of them are holes
   *   in every row; 0 = never. Holes cost attention and cache-copy time on every later forward.
   * @param holeShare the share of holes that triggers compaction. Default 0.25 on a CPU, where
   *   every forward copies the whole cache, holes included, so compacting pays for itself
   *   within a few rounds; 0.5 elsewhere: on a GPU at small batch holes cost little and a
   *   compaction is a session run.
   */
  constructor(
    private readonly decoder: Decoder,
    private readonly compactAt = 32,
    private readonly holeShare = decoder.info.device === 'cpu' ? 0.25 : 0.5,
  ) {
    this.cache = decoder.emptyCache(0);
  }

  /**
   * Drops masked-out slots once they are `holeShare` of the cache (or at once with `force`): one
   * slot gather per row (on the device), keeping each row's valid slots in order, left-padded with
   * masked filler to the longest row. Returns whether it compacted. A decoder without
   * `gatherSlots` never compacts.
   */
  async compact(force = false): Promise<boolean> {
    const past = this.cache.pastLength;
    if (!this.cache.gatherSlots || this.rowStates.length === 0) return false;
    const holes = this.reclaimable;
    if (holes === 0 || (!force && (this.compactAt === 0 || past < this.compactAt || holes < this.holeShare * past))) return false;
    const keep = past - holes;
    const lists = this.rowStates.map((r) => {
      const pad = keep - r.slots.length;
      return [...new Array<number>(pad).fill(r.slots[0] ?? 0), ...r.slots];
    });
    this.cache = await this.cache.gatherSlots(lists);
    for (const r of this.rowStates) {
      const pad = keep - r.slots.length;
      r.mask = [...new Array<number>(pad).fill(0), ...new Array<number>(r.slots.length).fill(1)];
      r.slots = r.slots.map((_, i) => pad + i);
    }
    return true;
  }

  /**
   * Slots a compaction would remove from every row: the cache's length less the longest row's
   * valid tokens.
   */
  get reclaimable(): number {
    if (this.rowStates.length === 0) return 0;
    return this.cache.pastLength - Math.max(...this.rowStates.map((r) => r.tokens.length));
  }

  /** Row ids in batch order. */
  get ids(): string[] {
    return this.rowStates.map((r) => r.id);
  }

  get size(): number {
    return this.rowStates.length;
  }

  /** Slots per row in the shared cache (valid or not). */
  get pastLength(): number {
    return this.cache.pastLength;
  }

  /** Tokens in the valid slots of row `row`. */
  cachedTokens(row: number): readonly number[] {
    return this.rowStates[row]!.tokens;
  }

  /**
   * Adds rows at the end of the batch, prefilled with `tokens` (possibly empty): one forward
   * pass over the new rows only, left-padded to the longest (padding masked) so that every row's
   * last token sits in the last position; only that position's logits are computed
   * (`numLogitsToKeep` 1) and returned, [n, 1, V]: the distribution of each row's next token
   * (meaningless for an empty row; an empty array when all rows are empty).
   * The new cache is joined to the running one (concatRows left-pads the shorter side; those
   * slots are masked too).
   */
  async admit(entries: ReadonlyArray<{ id: string; tokens: readonly number[] }>): Promise<BatchLogits> {
    if (entries.length === 0) throw new Error('KvBatch.admit: no rows to add');
    const fresh = entries.map((e): RowState => ({ id: e.id, mask: [], tokens: [], slots: [] }));
    const T = Math.max(...entries.map((e) => e.tokens.length));
    let newCache = this.decoder.emptyCache(entries.length);
    let logits: Float32Array = new Float32Array(0); // no logits when every row is empty
    if (T > 0) ({ logits, cache: newCache } = await this.runForward(fresh, newCache, entries.map((e) => e.tokens), T, 'left', 1));
    const out: BatchLogits = { logits, tokensPerRow: 1, vocabSize: this.decoder.info.vocabSize };
    if (this.rowStates.length === 0) {
      this.cache.dispose();
      this.cache = newCache;
      this.rowStates = fresh;
      return out;
    }
    const oldLen = this.cache.pastLength;
    const newLen = newCache.pastLength;
    this.cache = await this.decoder.concatRows(this.cache, newCache);
    const total = this.cache.pastLength;
    // concatRows left-pads the shorter side: shift its bookkeeping right by the padding.
    for (const [rows, len] of [[this.rowStates, oldLen], [fresh, newLen]] as const) {
      const pad = total - len;
      if (pad === 0) continue;
      for (const r of rows) {
        r.mask = [...new Array<number>(pad).fill(0), ...r.mask];
        r.slots = r.slots.map((s) => s + pad);
      }
    }
    this.rowStates.push(...fresh);
    return out;
  }

  /**
   * Runs the decoder over new tokens for every row (`tokens[b]`, possibly empty; right-padded
   * to the longest with masked slots) and records them as valid. Returns the logits.
   */
  async append(tokens: ReadonlyArray<readonly number[]>): Promise<BatchLogits> {
    const staged = await this.stage(tokens, 'right', 'append');
    const out = await this.decoder.forward(staged.input, staged.cache);
    this.commit(out.cache);
    return { logits: out.logits, tokensPerRow: staged.T, vocabSize: this.decoder.info.vocabSize };
  }

  /**
   * Lays out an append whose session run happens elsewhere (`append`, `appendGreedyDraft`, or a
   * joint round session, `RoundDecoder`): compacts when due, builds the forward inputs for
   * `tokens[b]` per row (padded to the longest on the `pad` side, padding masked) and records
   * the tokens as valid slots. The run consumes `cache`; hand its result to `commit`.
   */
  async stage(tokens: ReadonlyArray<readonly number[]>, pad: 'left' | 'right', caller = 'stage'): Promise<StagedAppend> {
    if (tokens.length !== this.rowStates.length) {
      throw new Error(`KvBatch.${caller}: ${tokens.length} token rows for a batch of ${this.rowStates.length}`);
    }
    const T = Math.max(1, ...tokens.map((t) => t.length));
    await this.compact();
    const past = this.cache.pastLength;
    return { input: this.inputs(this.rowStates, past, tokens, T, pad), cache: this.cache, past, T };
  }

  /** Takes the cache the run of a staged append returned (that run consumed the staged one). */
  commit(cache: KvCache): void {
    this.cache = cache;
  }

  /**
   * Overwrites row `row`'s last `tokens.length` valid tokens: an append staged with
   * placeholders for tokens its own run made (a joint round's drafts).
   */
  rewriteTail(row: number, tokens: readonly number[]): void {
    const r = this.rowStates[row]!;
    if (tokens.length > r.tokens.length) throw new Error(`KvBatch.rewriteTail: row ${row} has ${r.tokens.length} tokens, asked to rewrite ${tokens.length}`);
    r.tokens.splice(r.tokens.length - tokens.length, tokens.length, ...tokens);
  }

  /** Whether the decoder drafts k greedy tokens in one session run (`Decoder.greedyDraft`). */
  get canDraftGreedy(): boolean {
    return this.decoder.greedyDraft !== undefined;
  }

  /**
   * Appends `tokens[b]` (≥ 1 per row, left-padded to the longest) and drafts k greedy tokens
   * per row in one session run (`Decoder.greedyDraft`). Drafts 1 … k − 1 are in the cache
   * afterwards as valid tokens of their rows (the graph fed them); draft k is not. Returns the
   * drafts [B][k].
   */
  async appendGreedyDraft(tokens: ReadonlyArray<readonly number[]>, k: number): Promise<number[][]> {
    if (!this.decoder.greedyDraft) throw new Error(`KvBatch.appendGreedyDraft: ${this.decoder.info.name} has no greedy multi-step draft graph (load it from config + weights with multiStepDraft)`);
    const staged = await this.stageGreedyDraft(tokens);
    const out = await this.decoder.greedyDraft(staged.input, k, staged.cache);
    this.commitGreedyDraft(staged, out.tokens, out.cache);
    return out.tokens;
  }

  /** `stage` for a greedy multi-step draft run: every row needs a token to draft from, left-padded. */
  async stageGreedyDraft(tokens: ReadonlyArray<readonly number[]>): Promise<StagedAppend> {
    const empty = tokens.findIndex((t) => t.length === 0);
    if (empty >= 0) throw new Error(`KvBatch.appendGreedyDraft: row ${empty} has no token to draft from`);
    return this.stage(tokens, 'left', 'appendGreedyDraft');
  }

  /**
   * `commit` after a greedy multi-step draft run of `drafts[b]` (k each): the graph fed drafts
   * 1 … k − 1 after each row's last token, at slots past + T + j, valid.
   */
  commitGreedyDraft(staged: StagedAppend, drafts: readonly (readonly number[])[], cache: KvCache): void {
    this.commit(cache);
    this.rowStates.forEach((r, b) => {
      const d = drafts[b]!;
      for (let j = 0; j < d.length - 1; j++) {
        r.tokens.push(d[j]!);
        r.slots.push(staged.past + staged.T + j);
        r.mask.push(1);
      }
    });
  }

  /** Keeps only the first `n` valid tokens of row `row`; the rest are masked out (rollback). */
  truncate(row: number, n: number): void {
    const r = this.rowStates[row]!;
    if (n < 0 || n > r.tokens.length) throw new Error(`KvBatch.truncate: row ${row} has ${r.tokens.length} tokens, asked to keep ${n}`);
    for (const s of r.slots.slice(n)) r.mask[s] = 0;
    r.tokens.length = n;
    r.slots.length = n;
  }

  /** Keeps (and reorders to) the rows with the given ids; the others leave the batch. */
  async retain(ids: readonly string[]): Promise<void> {
    const index = new Map(this.rowStates.map((r, i) => [r.id, i]));
    const rows = ids.map((id) => {
      const i = index.get(id);
      if (i === undefined) throw new Error(`KvBatch.retain: no row "${id}" in the batch`);
      return i;
    });
    if (rows.length === this.rowStates.length && rows.every((r, i) => r === i)) return;
    if (rows.length === 0) {
      this.cache.dispose();
      this.cache = this.decoder.emptyCache(0);
      this.rowStates = [];
      return;
    }
    this.cache = await this.cache.gatherRows(rows);
    this.rowStates = rows.map((i) => this.rowStates[i]!);
  }

  dispose(): void {
    this.cache.dispose();
    this.rowStates = [];
  }

  private async runForward(
    rows: RowState[],
    cache: KvCache,
    tokens: ReadonlyArray<readonly number[]>,
    T: number,
    pad: 'left' | 'right',
    numLogitsToKeep?: number,
  ): Promise<{ logits: Float32Array; cache: KvCache }> {
    const input = this.inputs(rows, cache.pastLength, tokens, T, pad);
    const out = await this.decoder.forward({ ...input, ...(numLogitsToKeep ? { numLogitsToKeep } : {}) }, cache);
    return { logits: out.logits, cache: out.cache };
  }

  /**
   * The forward inputs for new tokens per row (padded to T on the `pad` side, padding masked),
   * and the bookkeeping: each real token becomes a valid slot of its row at the next position.
   */
  private inputs(rows: RowState[], past: number, tokens: ReadonlyArray<readonly number[]>, T: number, pad: 'left' | 'right') {
    const inputIds: number[][] = [];
    const positionIds: number[][] = [];
    const attentionMask: number[][] = [];
    rows.forEach((r, b) => {
      const t = tokens[b]!;
      const lead = pad === 'left' ? T - t.length : 0; // padding slots before the real tokens
      const pos0 = r.tokens.length;
      const ids = new Array<number>(T);
      const pos = new Array<number>(T);
      const newMask = new Array<number>(T);
      for (let j = 0; j < T; j++) {
        const i = j - lead; // index into t, or out of range for padding
        const real = i >= 0 && i < t.length;
        ids[j] = real ? t[i]! : 0;
        // Padding is masked, so its position matters to nobody; keep it in range.
        pos[j] = pos0 + Math.min(Math.max(i, 0), t.length);
        newMask[j] = real ? 1 : 0;
      }
      inputIds.push(ids);
      positionIds.push(pos);
      attentionMask.push([...r.mask, ...newMask]);
      r.mask = [...r.mask, ...newMask];
      for (let i = 0; i < t.length; i++) {
        r.tokens.push(t[i]!);
        r.slots.push(past + lead + i);
      }
    });
    return { inputIds, positionIds, attentionMask };
  }
}
