import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Tokenizer } from '@huggingface/tokenizers';
import { parseConfig, type LlamaConfig } from '../../gpu/model/config.js';
import { readSafetensors } from '../../gpu/weights/safetensors.js';
import { loadDecoder, loadTokenizer, assertSameVocabulary } from '../../gpu/runtime/loadDecoder.js';
import type { Device } from '../../gpu/runtime/Decoder.js';
import { Xoshiro128 } from '../../gpu/sampling/rng.js';
import { Trainer } from '../../gpu/train/Trainer.js';
import { saveCheckpoint } from '../../gpu/train/checkpoint.js';
import { defaultPositions } from '../../gpu/train/batch.js';
import type { Task } from '../../tasks/index.js';

export interface WarmupOptions {
  /** Model directory to start from (config.json + model.safetensors + tokenizer.json). */
  readonly model: string;
  /** Where the trained model directory is written (tokenizer files copied along). */
  readonly out: string;
  readonly tasks: readonly Task[];
  readonly steps: number;
  readonly batch: number;
  readonly seqLen: number;
  readonly lr: number;
  readonly seed: number;
  readonly device: Device;
  readonly onProgress?: (step: number, loss: number) => void;
}

export interface DistillOptions extends WarmupOptions {
  /** The teacher (the policy) whose logits the draft (`model`) learns to match. */
  readonly teacher: string;
}

interface Loaded {
  readonly config: LlamaConfig;
  readonly weights: Awaited<ReturnType<typeof readSafetensors>>;
  readonly tokenizer: Tokenizer;
}

function load(dir: string): Promise<Loaded> {
  const abs = resolve(dir);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
    if (!existsSync(join(abs, f))) throw new Error(`${abs}: ${f} is missing (training needs config.json, model.safetensors, tokenizer.json)`);
  }
  const config = parseConfig(JSON.parse(readFileSync(join(abs, 'config.json'), 'utf8')), join(abs, 'config.json'));
  return readSafetensors(join(abs, 'model.safetensors')).then((weights) => ({ config, weights, tokenizer: loadTokenizer(abs)! }));
}

/**
 * A batch of task demonstrations: `prompt answer<eos>`, right-padded to `seqLen`, loss on the
 * answer and the end-of-text token only.
 */
function demonstrations(tasks: readonly Task[], tokenizer: Tokenizer, eos: number, pad: number, B: number, T: number, step: number, rng: Xoshiro128) {
  const inputIds: number[][] = [];
  const attentionMask: number[][] = [];
  const lossMask: number[][] = [];
  for (let b = 0; b < B; b++) {
    const task = tasks[b % tasks.length]!;
    const [p] = task.prompts(step, 1, () => rng.next());
    const prompt = tokenizer.encode(p!.text).ids;
    const answer = [...tokenizer.encode(p!.answer).ids, eos];
    const ids = [...prompt, ...answer];
    if (ids.length > T) throw new Error(`demonstration "${p!.text}${p!.answer}" has ${ids.length} tokens, more than seqLen ${T}`);
    inputIds.push([...ids, ...new Array<number>(T - ids.length).fill(pad)]);
    attentionMask.push(ids.map(() => 1).concat(new Array<number>(T - ids.length).fill(0)));
    lossMask.push([...prompt.map(() => 0), ...answer.map(() => 1), ...new Array<number>(T - ids.length).fill(0)]);
  }
  return { inputIds, attentionMask, lossMask };
}

function saveWithTokenizer(from: string, out: string, config: LlamaConfig, trainer: Trainer): Promise<void> {
  mkdirSync(out, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (existsSync(join(from, f))) copyFileSync(join(from, f), join(out, f));
  return saveCheckpoint(out, config, trainer.weights);
}

const schedule = (o: WarmupOptions) => ({ kind: 'cosine' as const, lr: o.lr, warmupSteps: Math.min(20, Math.floor(o.steps / 10)), totalSteps: o.steps, minLr: o.lr / 10 });

/**
 * Supervised warm-up (token cross-entropy on task demonstrations), the usual step before GRPO:
 * it gives the policy a non-zero reward to improve on. Returns the last loss.
 */
export async function supervisedWarmup(o: WarmupOptions): Promise<number> {
  const m = await load(o.model);
  const eos = m.config.eosTokenIds[0] ?? 0;
  const pad = m.config.padTokenId ?? eos;
  const trainer = await Trainer.create({
    config: m.config, weights: m.weights, batch: o.batch, seqLen: o.seqLen, device: o.device,
    loss: { kind: 'ce' }, schedule: schedule(o), maxGradNorm: 1, optimizer: { weightDecay: 0.01 },
  });
  const rng = new Xoshiro128(o.seed, 1);
  let loss = NaN;
  for (let s = 0; s < o.steps; s++) {
    const r = await trainer.trainStep(demonstrations(o.tasks, m.tokenizer, eos, pad, o.batch, o.seqLen, s, rng));
    loss = r.loss;
    o.onProgress?.(s + 1, loss);
  }
  await saveWithTokenizer(resolve(o.model), o.out, m.config, trainer);
  return loss;
}

/**
 * Draft distillation: soft cross-entropy of the draft against the teacher's logits on task
 * sequences (the online EAGLE-3 recipe of NeMo-RL, offline here). Returns the last loss.
 */
export async function distillDraft(o: DistillOptions): Promise<number> {
  const student = await load(o.model);
  const teacher = await loadDecoder(resolve(o.teacher), { device: o.device });
  const studentDecoder = await loadDecoder({ config: student.config, weights: student.weights, name: o.model });
  assertSameVocabulary(teacher, studentDecoder);
  await studentDecoder.release();
  const eos = student.config.eosTokenIds[0] ?? 0;
  const pad = student.config.padTokenId ?? eos;
  const trainer = await Trainer.create({
    config: student.config, weights: student.weights, batch: o.batch, seqLen: o.seqLen, device: o.device,
    loss: { kind: 'distill' }, schedule: schedule(o), maxGradNorm: 1, model: 'draft',
  });
  const rng = new Xoshiro128(o.seed, 2);
  let loss = NaN;
  try {
    for (let s = 0; s < o.steps; s++) {
      const batch = demonstrations(o.tasks, student.tokenizer, eos, pad, o.batch, o.seqLen, s, rng);
      const positionIds = defaultPositions(batch.attentionMask);
      const out = await teacher.forward({ inputIds: batch.inputIds, positionIds, attentionMask: batch.attentionMask }, teacher.emptyCache(o.batch));
      out.cache.dispose();
      // the draft learns the teacher's next-token distribution on the whole sequence
      const lossMask = batch.attentionMask.map((row) => row.map((m, t) => (t > 0 ? m : 0)));
      const r = await trainer.trainStep({ ...batch, positionIds, lossMask, teacherLogits: out.logits });
      loss = r.loss;
      o.onProgress?.(s + 1, loss);
    }
  } finally {
    await teacher.release();
  }
  await saveWithTokenizer(resolve(o.model), o.out, student.config, trainer);
  return loss;
}
