import { join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { bufferTime, filter, from, lastValueFrom, map, share, toArray, type Subscription } from 'rxjs';
import type { Tokenizer } from '@huggingface/tokenizers';
import { createEventFactory } from '../../events/factory.js';
import type {
  AdvantagesComputed,
  RewardAssigned,
  RolloutRequested,
  SpecstreamEvent,
} from '../../events/index.js';
import { loadDecoder } from '../../gpu/runtime/loadDecoder.js';
import { parseConfig, type LlamaConfig } from '../../gpu/model/config.js';
import { readSafetensors } from '../../gpu/weights/safetensors.js';
import { Xoshiro128 } from '../../gpu/sampling/rng.js';
import { Trainer } from '../../gpu/train/Trainer.js';
import { saveCheckpoint } from '../../gpu/train/checkpoint.js';
import { sequenceLogprobs } from '../../gpu/scoring.js';
import { groupAdvantages } from '../../reducers/grpoAdvantages.js';
import type { StepMetrics } from '../../reducers/stepMetrics.js';
import type { Task, TaskPrompt } from '../../tasks/index.js';
import type { EventLog } from '../log/EventLog.js';
import { assignRewards } from '../operators/assignRewards.js';
import { stepMetricsOnCompletion } from '../replay.js';
import { buildGrpoBatch } from './trainBatch.js';
import type { RunConfig } from './runConfig.js';
import { LocalGeneration, type RolloutGeneration } from './rolloutGeneration.js';
import { WorkerGeneration } from './workerGeneration.js';

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
  /** generation = workers: the command that starts a worker for this run (printed while a step waits). */
  readonly workerCommand?: string;
  /** generation = workers: print that hint after this long without a new rollout (default 10 s). */
  readonly workerHintAfterMs?: number;
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
 *
 * With `generation: "workers"` (Kafka log only) step 2 happens elsewhere: generation workers
 * (`specstream worker`, ./generationWorker.ts) consume the requests and the driver waits until
 * each request has its `RolloutCompleted` (./workerGeneration.ts); weights are then published
 * every step, before the next `StepStarted`, since that is how workers get them.
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
  const workers = config.generation === 'workers';
  if (workers && config.log.kind !== 'kafka') {
    throw new Error(`generation: "workers" needs a Kafka event log (log.kind is "${config.log.kind}"): workers consume the requests from Kafka`);
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
  const trainerEvents = createEventFactory({ runId, source: 'trainer' });

  // The live metrics: fold what the log holds, as replay does.
  const metrics: StepMetrics[] = [];
  let lastMetricsStep = 0;
  let notifyMetrics: (() => void) | undefined;
  // One follow of the log, shared by the metrics and (generation = workers) the wait for
  // rollouts: a step's StepCompleted is appended only after this very stream delivered its
  // rollouts, so the metrics fold has every event of the step when StepCompleted arrives.
  const events$ = log.follow().pipe(
    map((p) => p.event),
    share(),
  );
  const generation: RolloutGeneration = workers
    ? new WorkerGeneration({
        events$,
        onProgress: progress,
        workerCommand: options.workerCommand ?? 'specstream worker --brokers <host:port> --run <topic prefix>',
        ...(options.workerHintAfterMs !== undefined ? { hintAfterMs: options.workerHintAfterMs } : {}),
      })
    : await LocalGeneration.create({ config, reference, modelConfig, initialWeights, tokenizer, append: (e) => log.append(e), events: createEventFactory({ runId, source: 'gen-0' }) });
  const follower: Subscription = events$
    .pipe(
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

      // 2. rollouts, appended as they come (here, or by generation workers)
      const { completed, rounds } = await generation.generate(step, requests, trainer.weightsVersion);
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
      await generation.refit(trainer.weights, update.weightsVersion);
      const last = step === config.steps;
      // workers get weights only through checkpoints: publish every step, before the next StepStarted
      if (last || workers || (config.checkpointEvery > 0 && step % config.checkpointEvery === 0)) {
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
    await generation.close();
    await reference.release();
  }
  return { metrics, finalCheckpoint: checkpoint };
}
