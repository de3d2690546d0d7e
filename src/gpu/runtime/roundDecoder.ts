import * as ort from 'onnxruntime-node';
import type { Decoder, Device, ForwardInput, KvCache } from './Decoder.js';
import { OrtDecoder, presentNames } from './OrtDecoder.js';
import { CheckedSession } from './session.js';
import { defaultFused, type InMemoryModel } from './loadDecoder.js';
import { buildRoundModel, DRAFT_PREFIX } from '../model/roundGraph.js';

/** What one joint round returns (`RoundDecoder.round`). */
export interface RoundOutput {
  /** The target's logits [B, T0 + k, V] row-major, on the CPU. */
  readonly logits: Float32Array;
  readonly dims: readonly [number, number, number];
  /** The target's cache: past + T0 + k slots (the prefix, then the k drafts). */
  readonly cache: KvCache;
  /** The draft model's greedy tokens [B][k]. */
  readonly drafts: number[][];
  /** The draft's cache, as `Decoder.greedyDraft` leaves it: past + T + k − 1 slots. */
  readonly draftCache: KvCache;
}

/**
 * A draft model's k greedy steps and the target's pass over each row's pending tokens followed
 * by those k drafts, in ONE session run (`buildRoundGraph`): the speculative round of a draft
 * model with greedy drafts, without the second session run and the gap between the two.
 *
 * Why: on a CPU a target forward that follows a couple of milliseconds of other work (the
 * draft's own session run) costs 6–27% more than one run back to back
 * (`scripts/experiments/gap-before-forward.mjs`); on WebGPU each session run has a fixed
 * dispatch cost. docs/speculative-decoding.md has the measurements.
 *
 * Cost: one session per k, each holding the target's weights again (onnxruntime-node cannot
 * share initializers between sessions) and the draft's (shared tensors of a draft cut from the
 * target, `truncatedDraft`, are held once).
 */
export interface RoundDecoder {
  readonly target: Decoder;
  readonly draft: Decoder;
  /** Builds, opens and warms up the sessions for `ks` now (else on first use of each k). */
  prepare(ks: readonly number[]): Promise<void>;
  /**
   * One round. `target.input` is what `Decoder.forward` would take for T0 + k new tokens per
   * row (the draft columns' ids are placeholders: the graph puts the drafts there), `prefix` =
   * T0 (≥ 1); `draft.input` is what `Decoder.greedyDraft` takes (every row left-padded so that
   * its last token is in the last column). Consumes both caches.
   */
  round(k: number, target: { readonly input: ForwardInput; readonly prefix: number; readonly cache: KvCache }, draft: { readonly input: ForwardInput; readonly cache: KvCache }): Promise<RoundOutput>;
  /** Releases the joint sessions (the two decoders belong to the caller). */
  release(): Promise<void>;
}

/**
 * Where specstream runs a draft model in joint rounds by default: a fixed k ≥ 1 (adaptive k
 * switches k round by round, and each k would be a session holding the target's weights again),
 * greedy drafts (the joint graph's drafts are argmaxes) and a CPU (on WebGPU the measurements
 * were mixed: docs/speculative-decoding.md, joint rounds). The models must also be built from
 * config + weights (`readBuilderModel`).
 */
export function jointRoundsApply(k: number | 'auto', greedyDrafts: boolean, device: Device): boolean {
  return typeof k === 'number' && k > 0 && greedyDrafts && device === 'cpu';
}

/** `RoundDecoder` on ONNX Runtime, for two `OrtDecoder`s built from config + weights. */
export class OrtRoundDecoder implements RoundDecoder {
  private readonly sessions = new Map<number, Promise<CheckedSession>>();

  private constructor(
    readonly target: OrtDecoder,
    readonly draft: OrtDecoder,
    private readonly model: (k: number) => Uint8Array,
  ) {}

  /**
   * Joint rounds for a target and a draft decoder, from the models they were loaded from
   * (config + weights; the graphs are rebuilt per k). Throws when either decoder is not an
   * `OrtDecoder`, the devices differ, or the vocabularies differ.
   */
  static open(
    target: { readonly decoder: Decoder; readonly model: InMemoryModel },
    draft: { readonly decoder: Decoder; readonly model: InMemoryModel },
    opts: { readonly fused?: boolean } = {},
  ): OrtRoundDecoder {
    const t = target.decoder;
    const d = draft.decoder;
    if (!(t instanceof OrtDecoder) || !(d instanceof OrtDecoder)) throw new Error('OrtRoundDecoder: both decoders must be OrtDecoders (loadDecoder)');
    if (t.info.device !== d.info.device) throw new Error(`OrtRoundDecoder: the target ${t.info.name} runs on ${t.info.device}, the draft ${d.info.name} on ${d.info.device}`);
    if (t.info.vocabSize !== d.info.vocabSize) {
      throw new Error(`OrtRoundDecoder: the draft ${d.info.name} has vocab_size ${d.info.vocabSize}, the target ${t.info.name} ${t.info.vocabSize}`);
    }
    const fused = opts.fused ?? defaultFused(t.info.device);
    return new OrtRoundDecoder(t, d, (k) => buildRoundModel({ target: target.model, draft: draft.model, k, fused }));
  }

  async prepare(ks: readonly number[]): Promise<void> {
    for (const k of ks) await this.session(k);
  }

  async round(
    k: number,
    target: { readonly input: ForwardInput; readonly prefix: number; readonly cache: KvCache },
    draft: { readonly input: ForwardInput; readonly cache: KvCache },
  ): Promise<RoundOutput> {
    if (!Number.isInteger(k) || k < 1) throw new Error(`RoundDecoder.round: k must be an integer ≥ 1, received ${k}`);
    const session = await this.session(k);
    return this.run(session, k, target, draft);
  }

  async release(): Promise<void> {
    for (const opening of this.sessions.values()) await (await opening).release();
    this.sessions.clear();
  }

  private async run(
    session: CheckedSession,
    k: number,
    target: { readonly input: ForwardInput; readonly prefix: number; readonly cache: KvCache },
    draft: { readonly input: ForwardInput; readonly cache: KvCache },
  ): Promise<RoundOutput> {
    const T0 = target.prefix;
    const width = target.input.inputIds[0]?.length ?? 0;
    if (!Number.isInteger(T0) || T0 < 1 || width !== T0 + k) {
      throw new Error(`RoundDecoder.round: the target input has ${width} columns per row; expected the prefix (${T0}) + k (${k})`);
    }
    const names = session.inputNames;
    const draftNames = names.filter((n) => n.startsWith(DRAFT_PREFIX)).map((n) => n.slice(DRAFT_PREFIX.length));
    const d = this.draft.feedsFor(draft.input, draft.cache, draftNames);
    const t = this.target.feedsFor(target.input, target.cache, names);
    if (d.B !== t.B) throw new Error(`RoundDecoder.round: the draft cache has ${d.B} rows, the target's ${t.B}; rows must line up`);
    const ids = t.feeds['input_ids']!;
    const feeds: Record<string, ort.Tensor> = Object.fromEntries(Object.entries(d.feeds).map(([n, v]) => [`${DRAFT_PREFIX}${n}`, v]));
    for (const [n, v] of Object.entries(t.feeds)) if (n !== 'input_ids') feeds[n] = v;
    feeds['target_prefix_ids'] = prefixColumns(ids, t.B, width, T0);
    const out = await session.run(feeds);
    const raw = out[`${DRAFT_PREFIX}draft_tokens`]!.data as BigInt64Array;
    const drafts = Array.from({ length: d.B }, (_, b) => Array.from({ length: k }, (_, j) => Number(raw[b * k + j]!)));
    const logits = out['logits']!.data as Float32Array;
    draft.cache.dispose();
    target.cache.dispose();
    return {
      logits,
      dims: [t.B, width, this.target.info.vocabSize],
      cache: this.target.cacheFrom(out, t.B, t.P + width),
      drafts,
      draftCache: this.draft.cacheFrom(out, d.B, d.P + d.T + k - 1, DRAFT_PREFIX),
    };
  }

  /** The k-round session, built, opened and warmed up on first use (the target's device and threads). */
  private session(k: number): Promise<CheckedSession> {
    let opening = this.sessions.get(k);
    if (!opening) {
      opening = (async () => {
        const s = await CheckedSession.create(this.model(k), {
          device: this.target.info.device,
          gpuOutputs: [...presentNames(this.target.info.numLayers), ...presentNames(this.draft.info.numLayers).map((n) => `${DRAFT_PREFIX}${n}`)],
          source: `${this.target.info.name} + ${this.draft.info.name} (joint ${k}-draft round graph)`,
          ...this.target.threadOptions,
        });
        // A first run pays for allocations: one 1-row round on empty caches, now.
        const one = (n: number, from = 0) => [Array.from({ length: n }, (_, j) => from + j)];
        const out = await this.run(s, k, { input: { inputIds: [new Array<number>(1 + k).fill(1)], positionIds: one(1 + k), attentionMask: [new Array<number>(1 + k).fill(1)] }, prefix: 1, cache: this.target.emptyCache(1) }, { input: { inputIds: [[1]], positionIds: one(1), attentionMask: [[1]] }, cache: this.draft.emptyCache(1) });
        out.cache.dispose();
        out.draftCache.dispose();
        return s;
      })();
      this.sessions.set(k, opening);
    }
    return opening;
  }
}

/** The first `T0` columns of an id tensor [B, width] (int64 or int32), as int64 (the round graph's `target_prefix_ids`). */
function prefixColumns(ids: ort.Tensor, B: number, width: number, T0: number): ort.Tensor {
  const src = ids.data as BigInt64Array | Int32Array;
  const data = new BigInt64Array(B * T0);
  for (let b = 0; b < B; b++) for (let j = 0; j < T0; j++) data[b * T0 + j] = BigInt(src[b * width + j]!);
  return new ort.Tensor('int64', data, [B, T0]);
}
