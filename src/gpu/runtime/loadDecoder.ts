import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { Decoder, Device } from './Decoder.js';
import { OrtDecoder } from './OrtDecoder.js';
import type { ThreadOptions } from './session.js';
import { parseConfig } from '../model/config.js';
import type { LlamaConfig } from '../model/config.js';
import { buildGreedyDraftModel, buildLlamaModel } from '../model/llamaGraph.js';
import { checkWeights } from '../model/llamaWeights.js';
import { readSafetensors } from '../weights/safetensors.js';
import type { WeightMap } from '../weights/tensor.js';

/** An in-memory model for the builder: config + weights (tests, benchmarks, training refits). */
export interface InMemoryModel {
  readonly config: LlamaConfig;
  readonly weights: WeightMap;
  readonly name?: string;
  readonly tokenizer?: Tokenizer;
}

function readJson(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
  }
}

/** Loads `tokenizer.json` (+ optional `tokenizer_config.json`) from a directory, if present. */
export function loadTokenizer(dir: string): Tokenizer | undefined {
  const file = join(dir, 'tokenizer.json');
  if (!existsSync(file)) return undefined;
  const cfgFile = join(dir, 'tokenizer_config.json');
  const cfg = existsSync(cfgFile) ? readJson(cfgFile) : {};
  try {
    return new Tokenizer(readJson(file) as object, cfg as object);
  } catch (err) {
    throw new Error(`${file}: @huggingface/tokenizers could not load it: ${(err as Error).message}`);
  }
}

/**
 * Which graph variant the builder emits by default: plain ops, or the fused GPU variant (same
 * I/O and semantics). Fused on WebGPU, where the op count dominates (H200: 7.5 vs 10.2 ms per
 * batch-1 step of a 100M model, bench/results/decode-webgpu*.json), plain on CPU.
 * SPECSTREAM_FUSED=0|1 overrides.
 */
export function defaultFused(device: Device): boolean {
  const env = process.env['SPECSTREAM_FUSED'];
  return env === undefined || env === '' ? device === 'webgpu' : env === '1';
}

/**
 * Loads a decoder from a model directory or an in-memory config + weights.
 *
 * Directory layouts (checked in this order):
 * 1. `model.onnx` (+ its external data beside it) + `config.json` [+ tokenizer files]: the graph
 *    is used as is (an optimum export or one the builder wrote), checked against config.json.
 * 2. `config.json` + `model.safetensors` [+ tokenizer files]: the builder emits the graph.
 * Anything else fails with an error that lists what the directory holds and what it needs.
 */
export async function loadDecoder(
  source: string | InMemoryModel,
  opts: {
    device?: Device;
    fused?: boolean;
    intraOpNumThreads?: number;
    /** False: the intra-op threads sleep between runs instead of spinning (see `SessionOptions`). */
    intraOpSpinning?: boolean;
    /**
     * Also enable `Decoder.greedyDraft` (k greedy draft steps in one session run) — for a draft
     * model built from config + weights (in memory or config.json + model.safetensors); a
     * `model.onnx` directory has no weights to unroll and drafts step by step. Keeps the weights
     * in memory (one extra session per k used).
     */
    multiStepDraft?: boolean;
  } = {},
): Promise<Decoder> {
  const device = opts.device ?? 'cpu';
  // intra-op threads of the session (1 for a draft model that alternates with its target on a CPU)
  const threads: ThreadOptions = {
    ...(opts.intraOpNumThreads !== undefined ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
    ...(opts.intraOpSpinning !== undefined ? { intraOpSpinning: opts.intraOpSpinning } : {}),
  };
  const fused = opts.fused ?? defaultFused(device);
  if (typeof source !== 'string') {
    const bytes = buildLlamaModel(source.config, { weightsAs: 'initializers', weights: source.weights, logitsToKeep: true, fused });
    const multi = opts.multiStepDraft ? { greedyDraftModel: (k: number) => buildGreedyDraftModel(source.config, k, { weights: source.weights, fused }) } : {};
    return OrtDecoder.open(bytes, { device, threads, ...multi, name: source.name ?? 'in-memory model', config: source.config, tokenizer: source.tokenizer });
  }
  const dir = resolve(source);
  if (!existsSync(dir)) throw new Error(`${dir}: no such model directory`);
  if (!statSync(dir).isDirectory()) {
    // a bare .onnx file: no config, no tokenizer
    return OrtDecoder.open(dir, { device, threads, name: dir, source: dir });
  }
  const has = (f: string) => existsSync(join(dir, f));
  const configPath = join(dir, 'config.json');
  const config = has('config.json') ? parseConfig(readJson(configPath), configPath) : undefined;
  const tokenizer = loadTokenizer(dir);
  if (has('model.onnx')) {
    return OrtDecoder.open(join(dir, 'model.onnx'), { device, threads, name: dir, config, tokenizer, source: join(dir, 'model.onnx') });
  }
  if (config && has('model.safetensors')) {
    const weights = await readCheckedWeights(dir, config);
    const bytes = buildLlamaModel(config, { weightsAs: 'initializers', weights, logitsToKeep: true, fused });
    const multi = opts.multiStepDraft ? { greedyDraftModel: (k: number) => buildGreedyDraftModel(config, k, { weights, fused }) } : {};
    return OrtDecoder.open(bytes, { device, threads, ...multi, name: dir, config, tokenizer, source: `${dir} (built from config.json + model.safetensors)` });
  }
  const listing = ['model.onnx', 'config.json', 'model.safetensors', 'tokenizer.json'].map((f) => `${f}: ${has(f) ? 'present' : 'absent'}`).join(', ');
  throw new Error(`${dir}: not a model directory; needs model.onnx (+ config.json) or config.json + model.safetensors (${listing})`);
}

/**
 * The config + weights of a model directory the builder builds from (config.json +
 * model.safetensors, no model.onnx), checked; undefined for any other directory. For what needs
 * the weights themselves: joint round sessions (`OrtRoundDecoder`).
 */
export async function readBuilderModel(source: string): Promise<InMemoryModel | undefined> {
  const dir = resolve(source);
  const has = (f: string) => existsSync(join(dir, f));
  if (!existsSync(dir) || !statSync(dir).isDirectory() || has('model.onnx') || !has('config.json') || !has('model.safetensors')) return undefined;
  const configPath = join(dir, 'config.json');
  const config = parseConfig(readJson(configPath), configPath);
  return { config, weights: await readCheckedWeights(dir, config), name: dir };
}

/** `dir`/model.safetensors, checked against `config` (names, shapes, dtypes). */
async function readCheckedWeights(dir: string, config: LlamaConfig): Promise<WeightMap> {
  const weightsPath = join(dir, 'model.safetensors');
  const weights = await readSafetensors(weightsPath);
  checkWeights(config, weights, weightsPath);
  return weights;
}

/** Raised when a draft and a target model cannot be used together. */
export class VocabularyMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VocabularyMismatchError';
  }
}

/**
 * Checks that two decoders share a vocabulary (speculative decoding compares p and q index by
 * index): equal vocab sizes, and when both have tokenizers, the same token → id map. Lists the
 * first differing tokens.
 */
export function assertSameVocabulary(target: Decoder, draft: Decoder): void {
  const a = target.info;
  const b = draft.info;
  if (a.vocabSize !== b.vocabSize) {
    throw new VocabularyMismatchError(`vocabularies differ: target ${a.name} has vocab_size ${a.vocabSize}, draft ${b.name} has ${b.vocabSize}`);
  }
  if (!target.tokenizer || !draft.tokenizer) return;
  const va = target.tokenizer.get_vocab(true);
  const vb = draft.tokenizer.get_vocab(true);
  const diffs: string[] = [];
  for (const [tok, id] of va) {
    const other = vb.get(tok);
    if (other !== id) diffs.push(`${JSON.stringify(tok)}: target ${id}, draft ${other ?? 'absent'}`);
    if (diffs.length >= 5) break;
  }
  if (diffs.length === 0 && va.size !== vb.size) diffs.push(`target tokenizer has ${va.size} tokens, draft ${vb.size}`);
  if (diffs.length > 0) {
    throw new VocabularyMismatchError(`tokenizers of target ${a.name} and draft ${b.name} differ:\n  - ${diffs.join('\n  - ')}`);
  }
}
