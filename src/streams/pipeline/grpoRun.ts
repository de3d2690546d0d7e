import { join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { bufferTime, concatMap, filter, from, lastValueFrom, map, toArray, type Subscription } from 'rxjs';
import type { Tokenizer } from '@huggingface/tokenizers';
import { createEventFactory, type EventFactory } from '../../events/factory.js';
import type {
  AdvantagesComputed,
  DraftVerified,
  RewardAssigned,
  RolloutCompleted,
  RolloutRequested,
  SpecstreamEvent,
} from '../../events/index.js';
import type { Decoder } from '../../gpu/runtime/Decoder.js';
import { loadDecoder, assertSameVocabulary } from '../../gpu/runtime/loadDecoder.js';
import { parseConfig, type LlamaConfig } from '../../gpu/model/config.js';
import { readSafetensors } from '../../gpu/weights/safetensors.js';
import { Xoshiro128 } from '../../gpu/sampling/rng.js';
import { ModelDrafter } from '../../gpu/speculative/modelDrafter.js';
import { NgramDrafter } from '../../gpu/speculative/ngramDrafter.js';
import { ReuseDrafter } from '../../gpu/speculative/reuseDrafter.js';
import type { Drafter } from '../../gpu/speculative/drafter.js';
import { Trainer } from '../../gpu/train/Trainer.js';
import { saveCheckpoint } from '../../gpu/train/checkpoint.js';
import { sequenceLogprobs } from '../../gpu/scoring.js';
import { groupAdvantages } from '../../reducers/grpoAdvantages.js';
import type { StepMetrics } from '../../reducers/stepMetrics.js';
import type { Task, TaskPrompt } from '../../tasks/index.js';
import type { EventLog } from '../log/EventLog.js';
import { speculativeDecode } from '../operators/speculativeDecode.js';
import { assignRewards } from '../operators/assignRewards.js';
import { stepMetricsOnCompletion } from '../replay.js';
import { buildGrpoBatch } from './trainBatch.js';
import type { RunConfig } from './runConfig.js';

export interface GrpoRunOptions {
  readonly config: RunConfig;
  readonly runId: string;
  readonly log: EventLog;
  readonly task: Task;
  /** Where checkpoints go (`<runDir>/weights/v<N>`). */
  readonly runDir: string;
  /** Each step's metrics, computed by folding the log (the same fold `specstream replay` runs). */
  readonly onStepMetrics?: (metrics: StepMetrics) => void;
  /** Human-readable progress lines (stderr in the CLI). */
  readonly onProgress?: (line: string) => void;
}

export interface GrpoRunResult {
  readonly metrics: StepMetrics[];
  readonly finalCheckpoint: string;
}

/** The policy's HF config; training needs config.json + model.safetensors (not only model.onnx). */
function readPolicyConfig(dir: string): LlamaConfig {
  const cfg = join(dir, 'config.json');
  const st = join(dir, 'model.safetensors');
  if (!existsSync(cfg) || !existsSync(st)) {
    throw new Error(`${dir}: training needs config.json and model.safetensors (found: ${[cfg, st].filter(existsSync).join(', ') || 'neither'})`);
  }
  return parseConfig(JSON.parse(readFileSync(cfg, 'utf8')), cfg);
}

/**
 * One GRPO run: for each step, prompts → speculative rollouts → rewards → group advantages →
 * one clipped-surrogate policy update → refit of the generation model, every event appended
 * to the log. Metrics are never computed from private state: a follower of the log folds the
 * events (`stepMetricsOnCompletion`), so `specstream replay` of the log prints the same rows.
 *
 * Per step:
 * 1. `StepStarted`; the task's prompts × groupSize `RolloutRequested` (per-sequence seeds).
 * 2. `speculativeDecode` (drafter per config) → `DraftVerified` … `RolloutCompleted`, appended
 *    in small batches as they come.
 * 3. `assignRewards` → `RewardAssigned`; `groupAdvantages` per prompt → `AdvantagesComputed`.
 * 4. Trainer step on the [B, T] batch (reference logprobs from the frozen initial policy when
 *    the KL coefficient is > 0) → `PolicyUpdated`; the generation decoder is rebuilt from the
 *    new weights in memory; a checkpoint → `WeightsPublished` (every `checkpointEvery` steps
 *    and after the last).
 * 5. `StepCompleted`; the follower prints the step's metrics.
 */
export async function runGrpo(options: GrpoRunOptions): Promise<GrpoRunResult> {
  const { config, log, task, runId } = options;
  const progress = options.onProgress ?? (() => undefined);
  const device = config.model.device;
  const policyDir = resolve(config.model.policy);
  const modelConfig = readPolicyConfig(policyDir);
  const initialWeights = await readSafetensors(join(policyDir, 'model.safetensors'));

  progress(`loading policy ${policyDir} on ${device}`);
  const reference = await loadDecoder(policyDir, { device });
  const tokenizer: Tokenizer | undefined = reference.tokenizer;
  if (!tokenizer) throw new Error(`${policyDir}: tokenizer.json is needed to turn task prompts into tokens`);
  let policy: Decoder = reference;
  let draftDecoder: Decoder | undefined;
  let drafter: Drafter | null = null;
  switch (config.speculative.drafter) {
    case 'model':
      // one intra-op thread for the draft on CPU: a spinning draft thread pool slows the
      // target's next forward (docs/speculative-decoding.md)
      draftDecoder = await loadDecoder(resolve(config.model.draft), { device, ...(device === 'cpu' ? { intraOpNumThreads: 1 } : {}) });
      assertSameVocabulary(reference, draftDecoder);
      drafter = new ModelDrafter(draftDecoder);
      break;
    case 'ngram':
      drafter = new NgramDrafter();
      break;
    case 'reuse':
      drafter = new ReuseDrafter();
      break;
    case 'none':
      drafter = null;
  }

  const P = config.promptsPerStep;
  const G = config.groupSize;
  const seqLen = config.sampling.maxPromptTokens + config.sampling.maxNewTokens;
  const padId = reference.info.padTokenId ?? reference.info.eosTokenIds[0] ?? 0;
  const { grpo, optimizer: opt } = config;
  progress(`building the train-step graph (B=${P * G}, T=${seqLen})`);
  const trainer = await Trainer.create({
    config: modelConfig,
    weights: initialWeights,
    batch: P * G,
    seqLen,
    device,
    temperature: config.sampling.temperature > 0 ? config.sampling.temperature : 1,
    loss: {
      kind: 'grpo',
      epsLow: grpo.epsLow,
      epsHigh: grpo.epsHigh,
      ...(grpo.dualClip !== null ? { dualClip: grpo.dualClip } : {}),
      normalization: grpo.normalization,
      ...(grpo.klCoef > 0 ? { kl: { type: grpo.klType, coef: grpo.klCoef } } : {}),
      ...(grpo.importanceSamplingCap !== null ? { importanceSampling: { cap: grpo.importanceSamplingCap } } : {}),
    },
    optimizer: { beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay },
    schedule:
      opt.schedule === 'constant'
        ? { kind: 'constant', lr: opt.lr }
        : { kind: 'cosine', lr: opt.lr, warmupSteps: opt.warmupSteps, totalSteps: config.steps, minLr: 0 },
    maxGradNorm: opt.maxGradNorm,
    model: 'policy',
  });

  const driver = createEventFactory({ runId, source: 'driver' });
  const generator = createEventFactory({ runId, source: 'gen-0' });
  const trainerEvents = createEventFactory({ runId, source: 'trainer' });

  // The live metrics: fold what the log holds, as replay does.
  const metrics: StepMetrics[] = [];
  let lastMetricsStep = 0;
  let notifyMetrics: (() => void) | undefined;
  const follower: Subscription = log
    .follow()
    .pipe(
      map((p) => p.event),
      bufferTime(25),
      filter((b) => b.length > 0),
      stepMetricsOnCompletion(),
    )
    .subscribe({
      next: (row) => {
        metrics.push(row);
        lastMetricsStep = row.step;
        options.onStepMetrics?.(row);
        notifyMetrics?.();
      },
      error: (err: unknown) => progress(`metrics follower failed: ${String(err)}`),
    });
  const metricsOf = (step: number) =>
    new Promise<void>((resolve) => {
      if (lastMetricsStep >= step) return resolve();
      notifyMetrics = () => {
        if (lastMetricsStep >= step) resolve();
      };
    });

  const append = (events: readonly SpecstreamEvent[]) => log.append(events);
  await append([driver.make('RunStarted', 0, { config: { ...config, runId } as unknown as Record<string, unknown> })]);
  let checkpoint = '';
  try {
    for (let step = 1; step <= config.steps; step++) {
      const t0 = performance.now();
      const rng = new Xoshiro128(config.seed, step);
      const prompts = task.prompts(step, P, () => rng.next());
      const promptById = new Map<string, TaskPrompt>(prompts.map((p) => [p.promptId, p]));
      await append([driver.make('StepStarted', step, { prompts: P, groupSize: G, weightsVersion: trainer.weightsVersion })]);
      const requests: RolloutRequested[] = prompts.flatMap((p, i) => {
        const ids = tokenizer.encode(p.text).ids;
        if (ids.length > config.sampling.maxPromptTokens) {
          throw new Error(`task ${task.name}: prompt ${p.promptId} has ${ids.length} tokens, more than sampling.maxPromptTokens ${config.sampling.maxPromptTokens}`);
        }
        return Array.from({ length: G }, (_, g) =>
          driver.make('RolloutRequested', step, {
            requestId: `${p.promptId}-g${g}`,
            promptId: p.promptId,
            groupIndex: g,
            promptTokenIds: ids,
            sampling: {
              temperature: config.sampling.temperature,
              topK: config.sampling.topK,
              topP: config.sampling.topP,
              maxNewTokens: config.sampling.maxNewTokens,
              seed: (config.seed * 1_000_003 + step * 10_007 + i * G + g) | 0,
              stopTokenIds: [...reference.info.eosTokenIds],
              stopStrings: [],
            },
          }),
        );
      });
      await append(requests);

      // 2. rollouts, appended as they come
      const rollout = await lastValueFrom(
        from(requests).pipe(
          speculativeDecode({
            target: policy,
            drafter,
            k: drafter ? config.speculative.k : 0,
            kMax: config.speculative.kMax,
            maxBatchSize: config.speculative.maxBatch,
            events: generator,
            weightsVersion: trainer.weightsVersion,
            decode: (ids) => tokenizer.decode([...ids]),
          }),
          bufferTime(50, null, 256),
          filter((b) => b.length > 0),
          concatMap(async (batch) => {
            await append(batch);
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
      const tGen = performance.now();

      // 3. rewards and advantages
      const rewards: RewardAssigned[] = await lastValueFrom(
        from([...completed.values()]).pipe(
          assignRewards({ task, prompts: promptById, decode: (ids) => tokenizer.decode([...ids]), events: trainerEvents }),
          toArray(),
        ),
      );
      await append(rewards);
      const byPrompt = new Map<string, RewardAssigned[]>();
      for (const r of rewards) byPrompt.set(r.data.promptId, [...(byPrompt.get(r.data.promptId) ?? []), r]);
      const advantages: AdvantagesComputed[] = prompts.map((p) =>
        trainerEvents.make(
          'AdvantagesComputed',
          step,
          groupAdvantages(byPrompt.get(p.promptId) ?? [], {
            baseline: grpo.leaveOneOut ? 'leave-one-out' : 'mean',
            normalize: grpo.normalizeStd,
          }),
        ),
      );
      await append(advantages);

      // 4. policy update and refit
      const batch = buildGrpoBatch(requests, completed, advantages, { batch: P * G, seqLen, padId });
      const refLogprobs =
        grpo.klCoef > 0
          ? await sequenceLogprobs(reference, batch.inputIds, batch.attentionMask, config.sampling.temperature || 1)
          : undefined;
      const update = await trainer.trainStep({
        inputIds: batch.inputIds,
        attentionMask: batch.attentionMask,
        lossMask: batch.lossMask,
        advantages: batch.advantages,
        oldLogprobs: batch.genLogprobs,
        genLogprobs: batch.genLogprobs,
        ...(refLogprobs ? { refLogprobs } : {}),
      });
      await append([
        trainerEvents.make('PolicyUpdated', step, {
          model: 'policy',
          loss: update.loss,
          gradNorm: update.gradNorm,
          lr: update.lr,
          weightsVersion: update.weightsVersion,
          metrics: update.metrics,
        }),
      ]);
      const next = await loadDecoder(
        { config: modelConfig, weights: trainer.weights, name: `policy v${update.weightsVersion}`, tokenizer },
        { device },
      );
      if (policy !== reference) await policy.release();
      policy = next;
      const last = step === config.steps;
      if (last || (config.checkpointEvery > 0 && step % config.checkpointEvery === 0)) {
        checkpoint = join(options.runDir, 'weights', `v${update.weightsVersion}`);
        await saveCheckpoint(checkpoint, modelConfig, trainer.weights);
        await append([trainerEvents.make('WeightsPublished', step, { model: 'policy', weightsVersion: update.weightsVersion, uri: resolve(checkpoint) })]);
      }
      await append([driver.make('StepCompleted', step, { rollouts: completed.size })]);
      await metricsOf(step);
      const tEnd = performance.now();
      progress(
        `step ${step}/${config.steps}: ${completed.size} rollouts, ${rounds} verification rounds, generation ${((tGen - t0) / 1000).toFixed(2)} s, update+refit ${((tEnd - tGen) / 1000).toFixed(2)} s`,
      );
    }
  } finally {
    follower.unsubscribe();
    if (policy !== reference) await policy.release();
    await reference.release();
    await draftDecoder?.release();
  }
  return { metrics, finalCheckpoint: checkpoint };
}
