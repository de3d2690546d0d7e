import { bufferTime, concatMap, filter, from, lastValueFrom, toArray } from 'rxjs';
import type { Tokenizer } from '@huggingface/tokenizers';
import type { EventFactory } from '../../events/factory.js';
import type { DraftVerified, RolloutCompleted, RolloutRequested, SpecstreamEvent } from '../../events/index.js';
import type { Decoder } from '../../gpu/runtime/Decoder.js';
import { loadDecoder } from '../../gpu/runtime/loadDecoder.js';
import type { LlamaConfig } from '../../gpu/model/config.js';
import type { WeightMap } from '../../gpu/weights/tensor.js';
import { speculativeDecode } from '../operators/speculativeDecode.js';
import { loadRunDrafter, type LoadedDrafter } from './drafters.js';
import type { RunConfig } from './runConfig.js';
import { AdaptiveK } from '../../gpu/speculative/adaptiveK.js';
import type { Drafter } from '../../gpu/speculative/drafter.js';
import { ModelDrafter } from '../../gpu/speculative/modelDrafter.js';
import { OrtRoundDecoder } from '../../gpu/runtime/roundDecoder.js';

/** The rollouts of one step: the first `RolloutCompleted` of each request, and how many verification rounds ran. */
export interface StepRollouts {
  readonly completed: Map<string, RolloutCompleted>;
  readonly rounds: number;
}

/**
 * Where a GRPO step's rollouts come from, as the run loop sees it: the driver has appended the
 * step's `RolloutRequested`; `generate` resolves once every request has its `RolloutCompleted`
 * in the log. Two implementations: in this process (`LocalGeneration`) or by generation workers
 * over Kafka (`WorkerGeneration`, ./workerGeneration.ts).
 */
export interface RolloutGeneration {
  generate(step: number, requests: readonly RolloutRequested[], weightsVersion: number): Promise<StepRollouts>;
  /** The policy changed: local generation refits its decoder in memory; workers load published checkpoints. */
  refit(weights: WeightMap, weightsVersion: number): Promise<void>;
  close(): Promise<void>;
}

export interface LocalGenerationOptions {
  readonly config: RunConfig;
  /** The initial policy (also the run's reference model; not released here). */
  readonly reference: Decoder;
  readonly modelConfig: LlamaConfig;
  /** The initial policy's weights (joint rounds build their session from the policy's weights). */
  readonly initialWeights?: WeightMap;
  readonly tokenizer: Tokenizer;
  readonly append: (events: readonly SpecstreamEvent[]) => Promise<unknown>;
  /** Factory of the generator's events (`source` = its worker id). */
  readonly events: EventFactory;
}

/**
 * In-process generation: `speculativeDecode` over the step's requests with the current policy,
 * events appended in small batches as they come; refits rebuild the decoder from the new
 * weights in memory.
 */
export class LocalGeneration implements RolloutGeneration {
  private policy: Decoder;
  /** Adaptive k's measurements, kept across steps (new weights, same shapes and device). */
  private readonly adaptiveK: AdaptiveK | undefined;

  /** The current policy's weights (joint rounds), and its joint round sessions once opened. */
  private weights: WeightMap | undefined;
  private rounds: OrtRoundDecoder | undefined;

  private constructor(private readonly o: LocalGenerationOptions, private readonly drafts: LoadedDrafter) {
    this.policy = o.reference;
    this.weights = o.initialWeights;
    this.adaptiveK = o.config.speculative.k === 'auto' ? new AdaptiveK({ kMax: o.config.speculative.kMax }) : undefined;
  }

  /** Loads the configured drafter (and draft model) next to the reference policy. */
  static async create(o: LocalGenerationOptions): Promise<LocalGeneration> {
    return new LocalGeneration(o, await loadRunDrafter(o.config, o.config.model.device, o.reference));
  }

  async generate(_step: number, requests: readonly RolloutRequested[], weightsVersion: number): Promise<StepRollouts> {
    const { config, tokenizer } = this.o;
    const drafter = this.stepDrafter();
    const rollout = await lastValueFrom(
      from(requests).pipe(
        speculativeDecode({
          target: this.policy,
          drafter,
          k: drafter ? config.speculative.k : 0,
          kMax: config.speculative.kMax,
          ...(this.adaptiveK ? { adaptiveK: this.adaptiveK } : {}),
          maxBatchSize: config.speculative.maxBatch,
          ...(config.speculative.minJoin !== undefined ? { minJoin: config.speculative.minJoin } : {}),
          events: this.o.events,
          weightsVersion,
          decode: (ids) => tokenizer.decode([...ids]),
        }),
        bufferTime(50, null, 256),
        filter((b) => b.length > 0),
        concatMap(async (batch) => {
          await this.o.append(batch);
          return batch;
        }),
        toArray(),
      ),
    );
    const completed = new Map<string, RolloutCompleted>();
    let rounds = 0;
    for (const batch of rollout)
      for (const e of batch as (DraftVerified | RolloutCompleted)[]) {
        if (e.type === 'RolloutCompleted') completed.set(e.data.requestId, e);
        else rounds++;
      }
    return { completed, rounds };
  }

  async refit(weights: WeightMap, weightsVersion: number): Promise<void> {
    const next = await loadDecoder(
      { config: this.o.modelConfig, weights, name: `policy v${weightsVersion}`, tokenizer: this.o.tokenizer },
      { device: this.o.config.model.device },
    );
    await this.rounds?.release();
    this.rounds = undefined;
    if (this.policy !== this.o.reference) await this.policy.release();
    this.policy = next;
    this.weights = weights;
  }

  /**
   * The step's drafter: the run's, or — with joint rounds (`LoadedDrafter.joint`) and the
   * policy's weights at hand — a draft-model drafter whose rounds run as one session with the
   * current policy (opened at the step's first round, after each refit).
   */
  private stepDrafter(): Drafter | null {
    const { joint, draftDecoder } = this.drafts;
    if (!joint || !draftDecoder || !this.weights) return this.drafts.drafter;
    this.rounds ??= OrtRoundDecoder.open({ decoder: this.policy, model: { config: this.o.modelConfig, weights: this.weights } }, { decoder: draftDecoder, model: joint.draft });
    return new ModelDrafter(draftDecoder, undefined, undefined, { greedyDrafts: joint.greedyDrafts, rounds: this.rounds });
  }

  async close(): Promise<void> {
    await this.rounds?.release();
    this.rounds = undefined;
    if (this.policy !== this.o.reference) await this.policy.release();
    this.policy = this.o.reference;
    await this.drafts.draftDecoder?.release();
  }
}
