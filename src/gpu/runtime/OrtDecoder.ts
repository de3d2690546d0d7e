import * as ort from 'onnxruntime-node';
import type { Tokenizer } from '@huggingface/tokenizers';
import type { Decoder, DecoderInfo, Device, ForwardInput, ForwardOutput, IntRows, KvCache } from './Decoder.js';
import { CheckedSession, type ThreadOptions } from './session.js';
import { CacheOps } from './cacheOps.js';
import { OrtKvCache } from './kvCache.js';
import type { LlamaConfig } from '../model/config.js';

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;

/** The present.{i}.key|value output names of a decoder with `layers` layers, in cache order. */
export const presentNames = (layers: number): string[] => Array.from({ length: layers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat();

/** Raised when config.json and the ONNX graph describe different models. */
export class ModelMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelMismatchError';
  }
}

/**
 * A `Decoder` over any ONNX graph with the standard decoder I/O (the builder's, or optimum's
 * export of a Llama/Qwen2-style model).
 *
 * Construction reads the graph's declared inputs: the layer count from
 * `past_key_values.{i}.key`, kv heads and head_dim from their static dims, and checks them
 * (and the vocabulary size of `logits`) against config.json when one is given.
 */
export class OrtDecoder implements Decoder {
  private readonly ops: CacheOps;
  private readonly idType: 'int64' | 'int32';

  /** Sessions of the greedy multi-step draft graph, by k (made on first use). */
  private readonly draftSessions = new Map<number, Promise<CheckedSession>>();
  readonly greedyDraft: Decoder['greedyDraft'];
  readonly prepareGreedyDraft: Decoder['prepareGreedyDraft'];

  private constructor(
    private readonly session: CheckedSession,
    readonly info: DecoderInfo,
    readonly tokenizer: Tokenizer | undefined,
    private readonly draftModel?: (k: number) => Uint8Array,
    /** Intra-op thread options of the session, for the k-step draft sessions too. */
    private readonly threads: ThreadOptions = {},
  ) {
    this.ops = new CacheOps(info.device, 2 * info.numLayers, { heads: info.numKvHeads, headDim: info.headDim });
    this.idType = session.inputMeta('input_ids')?.type === 'int32' ? 'int32' : 'int64';
    this.greedyDraft = draftModel ? (input, k, cache) => this.runGreedyDraft(input, k, cache) : undefined;
    this.prepareGreedyDraft = draftModel ? async (ks) => void (await Promise.all(ks.map((k) => this.draftSession(k)))) : undefined;
  }

  /**
   * Opens a model (file path or bytes) and derives `info`.
   * 1. Creates the session, keeping `present.*` on the GPU under WebGPU.
   * 2. Requires `input_ids`, `attention_mask` and `past_key_values.{i}.key|value` (float32);
   *    `position_ids` is fed when declared.
   * 3. Compares layers / kv heads / head_dim / vocab with `config` and throws a
   *    ModelMismatchError naming both values.
   */
  static async open(
    model: string | Uint8Array,
    opts: {
      device: Device;
      name: string;
      config?: LlamaConfig;
      tokenizer?: Tokenizer;
      source?: string;
      /** Intra-op thread settings of the session (and of its k-step draft sessions). */
      threads?: ThreadOptions;
      /** The greedy k-step draft graph of the same model (enables `greedyDraft`). */
      greedyDraftModel?: (k: number) => Uint8Array;
    },
  ): Promise<OrtDecoder> {
    // Which outputs stay on the GPU: present.* — named from config.json, or read from a CPU probe
    // session when there is no config (CPU needs neither).
    let gpuOutputs: string[] = [];
    if (opts.device === 'webgpu') {
      if (opts.config) {
        gpuOutputs = presentNames(opts.config.numLayers);
      } else {
        const probe = await CheckedSession.create(model, { device: 'cpu', source: opts.source ?? opts.name });
        gpuOutputs = probe.outputNames.filter((n) => n.startsWith('present.'));
        await probe.release();
      }
    }
    const threads = opts.threads ?? {};
    const session = await CheckedSession.create(model, { device: opts.device, gpuOutputs, source: opts.source ?? opts.name, ...threads });
    const where = `${session.source}`;
    const need = ['input_ids', 'attention_mask'];
    const missing = need.filter((n) => !session.inputNames.includes(n));
    if (missing.length > 0 || !session.outputNames.includes('logits')) {
      throw new ModelMismatchError(
        `${where}: not a decoder with the standard I/O: missing ${[...missing, ...(session.outputNames.includes('logits') ? [] : ['output logits'])].join(', ')}; declared inputs: ${session.inputNames.join(', ')}; outputs: ${session.outputNames.join(', ')}`,
      );
    }
    const layers = new Set<number>();
    let heads: number | undefined;
    let headDim: number | undefined;
    for (const n of session.inputNames) {
      const m = PAST.exec(n);
      if (!m) continue;
      layers.add(Number(m[1]));
      const meta = session.inputMeta(n);
      if (meta && meta.type !== 'float32') {
        throw new ModelMismatchError(`${where}: input "${n}" is ${meta.type}; only float32 KV caches are supported (export the model in fp32)`);
      }
      if (meta && typeof meta.shape[1] === 'number') heads = meta.shape[1];
      if (meta && typeof meta.shape[3] === 'number') headDim = meta.shape[3];
    }
    if (layers.size === 0) throw new ModelMismatchError(`${where}: the graph has no past_key_values.{i}.key|value inputs (exported without cache?); declared inputs: ${session.inputNames.join(', ')}`);
    const c = opts.config;
    const logitsMeta = session.session.outputMetadata.find((m) => m.name === 'logits');
    const graphVocab = logitsMeta && logitsMeta.isTensor && typeof logitsMeta.shape[2] === 'number' ? logitsMeta.shape[2] : undefined;
    const problems: string[] = [];
    if (c) {
      if (c.numLayers !== layers.size) problems.push(`num_hidden_layers: config.json ${c.numLayers}, graph ${layers.size}`);
      if (heads !== undefined && heads !== c.numKvHeads) problems.push(`num_key_value_heads: config.json ${c.numKvHeads}, graph ${heads}`);
      if (headDim !== undefined && headDim !== c.headDim) problems.push(`head_dim: config.json ${c.headDim}, graph ${headDim}`);
      if (graphVocab !== undefined && graphVocab !== c.vocabSize) problems.push(`vocab_size: config.json ${c.vocabSize}, graph logits ${graphVocab}`);
    }
    if (problems.length > 0) throw new ModelMismatchError(`${where}: config.json and the ONNX graph disagree:\n  - ${problems.join('\n  - ')}`);
    const vocab = graphVocab ?? c?.vocabSize;
    heads ??= c?.numKvHeads;
    headDim ??= c?.headDim;
    if (vocab === undefined || heads === undefined || headDim === undefined) {
      throw new ModelMismatchError(`${where}: the graph leaves vocab size / kv heads / head_dim symbolic and no config.json gives them`);
    }
    const info: DecoderInfo = {
      name: opts.name,
      vocabSize: vocab,
      numLayers: layers.size,
      numKvHeads: heads,
      headDim,
      eosTokenIds: c?.eosTokenIds ?? [],
      bosTokenId: c?.bosTokenId,
      padTokenId: c?.padTokenId,
      device: opts.device,
    };
    return new OrtDecoder(session, info, opts.tokenizer, opts.greedyDraftModel, threads);
  }

  emptyCache(batch: number): KvCache {
    const { numLayers, numKvHeads, headDim } = this.info;
    const tensors = Array.from({ length: 2 * numLayers }, () => new ort.Tensor('float32', new Float32Array(0), [batch, numKvHeads, 0, headDim]));
    return new OrtKvCache(this.ops, batch, 0, tensors);
  }

  private ints(name: string, rows: IntRows, B: number, cols: number, type: 'int64' | 'int32' = 'int64'): ort.Tensor {
    if (rows.length !== B) throw new Error(`forward: ${name} has ${rows.length} rows, expected ${B} (the batch size)`);
    const data = type === 'int64' ? new BigInt64Array(B * cols) : new Int32Array(B * cols);
    rows.forEach((row, b) => {
      if (row.length !== cols) throw new Error(`forward: ${name} row ${b} has length ${row.length}, expected ${cols}`);
      for (let j = 0; j < cols; j++) {
        const v = row[j]!;
        if (!Number.isInteger(v)) throw new Error(`forward: ${name}[${b}][${j}] = ${v} is not an integer`);
        if (type === 'int64') (data as BigInt64Array)[b * cols + j] = BigInt(v);
        else (data as Int32Array)[b * cols + j] = v;
      }
    });
    return new ort.Tensor(type, data, [B, cols]);
  }

  /**
   * 1. Checks shapes: B = cache.batch, T from input_ids, mask width = pastLength + T, ids < vocab.
   * 2. Feeds ids/positions/mask and the cache tensors (GPU-resident on WebGPU).
   * 3. Logits come back to the CPU; present.* become the new cache; the old one is disposed.
   */
  async forward(input: ForwardInput, cache: KvCache): Promise<ForwardOutput> {
    const { feeds, B, T, P } = this.feedsFor(input, cache, this.session.inputNames);
    const V = this.info.vocabSize;
    const keep = input.numLogitsToKeep ?? 0;
    const keptT = keep === 0 ? T : Math.min(keep, T);
    const graphKeeps = this.session.inputNames.includes('num_logits_to_keep');
    const out = await this.session.run(feeds);
    const logitsT = out['logits']!;
    if (logitsT.type !== 'float32') throw new Error(`${this.info.name}: logits are ${logitsT.type}; only float32 is supported`);
    let logits = logitsT.data as Float32Array;
    if (!graphKeeps && keptT < T) {
      // the graph has no num_logits_to_keep: cut [B, T, V] to the last keptT positions here
      const cut = new Float32Array(B * keptT * V);
      for (let b = 0; b < B; b++) cut.set(logits.subarray((b * T + T - keptT) * V, (b + 1) * T * V), b * keptT * V);
      logits = cut;
    }
    cache.dispose();
    return { logits, dims: [B, keptT, V], cache: this.cacheFrom(out, B, P + T) };
  }

  /**
   * `greedyDraft` (see Decoder): feeds as `forward` to the k-step draft session (built and
   * opened on first use of each k, present.* kept on the GPU under WebGPU), reads
   * `draft_tokens` [B, k]; the presents (past + T + k − 1 slots) become the new cache.
   */
  private async runGreedyDraft(input: ForwardInput, k: number, cache: KvCache): Promise<{ tokens: number[][]; cache: KvCache }> {
    if (!Number.isInteger(k) || k < 1) throw new Error(`greedyDraft: k must be an integer ≥ 1, received ${k}`);
    const session = await this.draftSession(k);
    const { feeds, B, T, P } = this.feedsFor(input, cache, session.inputNames);
    const out = await session.run(feeds);
    const ids = out['draft_tokens']!.data as BigInt64Array;
    const tokens = Array.from({ length: B }, (_, b) => Array.from({ length: k }, (_, j) => Number(ids[b * k + j]!)));
    cache.dispose();
    return { tokens, cache: this.cacheFrom(out, B, P + T + k - 1) };
  }

  /** The k-step draft session, built and opened on first use (same device and threads as this decoder's). */
  private draftSession(k: number): Promise<CheckedSession> {
    let opening = this.draftSessions.get(k);
    if (!opening) {
      opening = CheckedSession.create(this.draftModel!(k), {
        device: this.info.device,
        gpuOutputs: presentNames(this.info.numLayers),
        source: `${this.info.name} (greedy ${k}-step draft graph)`,
        ...this.threads,
      });
      this.draftSessions.set(k, opening);
    }
    return opening;
  }

  /**
   * Checks `input` against `cache` and builds the feeds of a session with inputs `names`. Also
   * used by `OrtRoundDecoder`, which feeds a joint round session with this decoder's inputs.
   */
  feedsFor(input: ForwardInput, cache: KvCache, names: readonly string[]): { feeds: Record<string, ort.Tensor>; B: number; T: number; P: number } {
    if (!(cache instanceof OrtKvCache)) throw new Error('forward: cache must come from this decoder (emptyCache/forward)');
    const B = cache.batch;
    const T = input.inputIds[0]?.length ?? 0;
    if (T === 0) throw new Error('forward: inputIds must have at least one token per row');
    const P = cache.pastLength;
    const ids = this.ints('inputIds', input.inputIds, B, T, this.idType);
    const V = this.info.vocabSize;
    for (const row of input.inputIds) for (const id of row) if (id < 0 || id >= V) throw new Error(`forward: token id ${id} is outside the vocabulary [0, ${V})`);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: ids,
      attention_mask: this.ints(`attentionMask (past ${P} + T ${T})`, input.attentionMask, B, P + T),
    };
    if (names.includes('position_ids')) feeds['position_ids'] = this.ints('positionIds', input.positionIds, B, T);
    const keep = input.numLogitsToKeep ?? 0;
    if (!(Number.isInteger(keep) && keep >= 0)) throw new Error(`forward: numLogitsToKeep must be an integer ≥ 0; got ${keep}`);
    if (names.includes('num_logits_to_keep')) feeds['num_logits_to_keep'] = new ort.Tensor('int64', BigInt64Array.from([BigInt(keep)]), []);
    if (names.includes('use_cache_branch')) feeds['use_cache_branch'] = new ort.Tensor('bool', Uint8Array.from([P > 0 ? 1 : 0]), [1]);
    const past = cache.peek();
    for (let l = 0; l < this.info.numLayers; l++) {
      feeds[`past_key_values.${l}.key`] = past[2 * l]!;
      feeds[`past_key_values.${l}.value`] = past[2 * l + 1]!;
    }
    return { feeds, B, T, P };
  }

  /**
   * The cache made of a session's present outputs `{prefix}present.{i}.key|value` (`slots` per
   * row): this decoder's cache layout, for `OrtRoundDecoder`'s joint session outputs.
   */
  cacheFrom(out: ort.InferenceSession.ReturnType, batch: number, slots: number, prefix = ''): KvCache {
    return new OrtKvCache(this.ops, batch, slots, presentNames(this.info.numLayers).map((n) => out[`${prefix}${n}`]!));
  }

  /** Intra-op thread options the session was opened with (a joint round session uses the target's). */
  get threadOptions(): ThreadOptions {
    return this.threads;
  }

  async concatRows(a: KvCache, b: KvCache): Promise<KvCache> {
    if (!(a instanceof OrtKvCache) || !(b instanceof OrtKvCache)) throw new Error('concatRows: caches must come from this decoder');
    return OrtKvCache.concat(this.ops, a, b);
  }

  async release(): Promise<void> {
    await this.ops.release();
    for (const opening of this.draftSessions.values()) await (await opening).release();
    await this.session.release();
  }
}
