/**
 * The trainer: owns a model's weights and optimizer state, runs the train-step graph on ONNX
 * Runtime (cpu | webgpu) and applies clipped AdamW updates.
 */
import * as ort from 'onnxruntime-node';
import type { LlamaConfig } from '../model/config.js';
import { checkWeights } from '../model/llamaWeights.js';
import type { F32Tensor, WeightMap } from '../weights/tensor.js';
import { serializeModel } from '../graph/serialize.js';
import { CheckedSession } from '../runtime/session.js';
import type { LossOptions } from './losses.js';
import type { TrainStepGraph } from './trainStepGraph.js';
import { buildTrainStepGraph } from './trainStepGraph.js';
import type { TrainBatch } from './batch.js';
import { batchFeeds } from './batch.js';
import type { AdamWOptions } from './adamw.js';
import { AdamW, clipCoefficient, globalNorm } from './adamw.js';
import type { LrSchedule } from './schedule.js';
import { learningRate } from './schedule.js';
import type { OptimizerCheckpoint } from './checkpoint.js';
import { loadOptimizerState, saveCheckpoint } from './checkpoint.js';

export type TrainDevice = 'cpu' | 'webgpu';

export interface TrainerOptions {
  readonly config: LlamaConfig;
  /** Initial weights (copied: the trainer owns its tensors). */
  readonly weights: WeightMap;
  /** The fixed [B, T] of the train-step graph. */
  readonly batch: number;
  readonly seqLen: number;
  readonly loss: LossOptions;
  /** Temperature the rollouts were sampled at (the loss's logprobs use it). Default 1. */
  readonly temperature?: number;
  readonly device?: TrainDevice;
  readonly optimizer?: AdamWOptions;
  readonly schedule: LrSchedule;
  /** Global-norm clipping threshold (NeMo-RL default 1.0); off when undefined. */
  readonly maxGradNorm?: number;
  readonly model?: 'policy' | 'draft';
}

/** What one call of `computeGradients` returns. */
export interface Gradients {
  readonly loss: number;
  readonly diagnostics: Readonly<Record<string, number>>;
  readonly grads: ReadonlyMap<string, Float32Array>;
}

/** The data of a `PolicyUpdated` event, plus timings. */
export interface StepResult {
  readonly model: 'policy' | 'draft';
  readonly loss: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  readonly lr: number;
  readonly weightsVersion: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly timings: { readonly gradientsMs: number; readonly optimizerMs: number };
}

export class Trainer {
  private readonly params = new Map<string, F32Tensor>();
  private readonly optimizer: AdamW;
  private version = 0;

  private constructor(
    private readonly opts: TrainerOptions,
    readonly step: TrainStepGraph,
    private readonly session: CheckedSession,
  ) {
    for (const name of step.weightNames) {
      const t = opts.weights.get(name)!;
      this.params.set(name, { dims: [...t.dims], data: Float32Array.from(t.data) });
    }
    this.optimizer = new AdamW(opts.optimizer);
  }

  /**
   * Builds the float32 train-step graph for the config, [B, T] and loss, and opens an ORT
   * session on the device.
   */
  static async create(opts: TrainerOptions): Promise<Trainer> {
    checkWeights(opts.config, opts.weights, 'Trainer weights');
    const step = buildTrainStepGraph({
      config: opts.config,
      batch: opts.batch,
      seqLen: opts.seqLen,
      loss: opts.loss,
      temperature: opts.temperature ?? 1,
      dtype: 'float32',
    });
    const session = await CheckedSession.create(serializeModel(step.graph), {
      device: opts.device ?? 'cpu',
      source: `train-step graph (${opts.model ?? 'policy'}, B=${opts.batch}, T=${opts.seqLen})`,
    });
    return new Trainer(opts, step, session);
  }

  /** The current weights (live views: they change on each `step`). */
  get weights(): WeightMap {
    return this.params;
  }

  get weightsVersion(): number {
    return this.version;
  }

  /** Loss, diagnostics and the gradient of every weight at the current weights. */
  async computeGradients(batch: TrainBatch): Promise<Gradients> {
    const feeds = batchFeeds(batch, this.step.batchInputs, 'float32', this.opts.config.vocabSize);
    for (const [name, t] of this.params) feeds[name] = new ort.Tensor('float32', t.data, t.dims);
    const out = await this.session.run(feeds);
    const scalar = (n: string) => Number((out[n]!.data as Float32Array)[0]);
    const diagnostics: Record<string, number> = {};
    for (const [k, n] of this.step.diagnostics) diagnostics[k] = scalar(n);
    const grads = new Map<string, Float32Array>();
    for (const [w, n] of this.step.gradOutputs) grads.set(w, out[n]!.data as Float32Array);
    return { loss: scalar(this.step.lossOutput), diagnostics, grads };
  }

  /**
   * One optimiser step: gradients on the device, global norm, clip coefficient, AdamW with
   * the schedule's rate for this step; bumps `weightsVersion`.
   */
  async trainStep(batch: TrainBatch): Promise<StepResult> {
    const t0 = performance.now();
    const { loss, diagnostics, grads } = await this.computeGradients(batch);
    const t1 = performance.now();
    const gradNorm = globalNorm(grads.values());
    const scale = clipCoefficient(gradNorm, this.opts.maxGradNorm);
    const lr = learningRate(this.opts.schedule, this.optimizer.step);
    this.optimizer.update(this.params, grads, lr, scale);
    this.version += 1;
    const t2 = performance.now();
    return {
      model: this.opts.model ?? 'policy',
      loss,
      gradNorm,
      lr,
      weightsVersion: this.version,
      metrics: { ...diagnostics, grad_clip_coef: scale },
      timings: { gradientsMs: t1 - t0, optimizerMs: t2 - t1 },
    };
  }

  /** Writes weights + config.json + optimizer state to `dir` (see checkpoint.ts). */
  async save(dir: string): Promise<void> {
    const s = this.optimizer.state();
    await saveCheckpoint(dir, this.opts.config, this.params, { step: s.step, weightsVersion: this.version, m: s.m, v: s.v });
  }

  /**
   * Resumes optimizer state and weights version from a checkpoint directory written by `save`
   * (create the trainer with that checkpoint's weights).
   */
  async resume(dir: string): Promise<void> {
    const s: OptimizerCheckpoint = await loadOptimizerState(dir);
    this.optimizer.restore(s);
    this.version = s.weightsVersion;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
