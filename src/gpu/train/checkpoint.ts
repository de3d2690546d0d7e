/**
 * Checkpoints in the Hugging Face layout: `model.safetensors` (float32, Hugging Face tensor
 * names) + `config.json`, so a checkpoint loads in transformers (`LlamaForCausalLM.from_pretrained`)
 * and back in specstream bit for bit. Optimizer moments, when given, go in
 * `optimizer.safetensors` (`m.<name>`, `v.<name>`) with `trainer_state.json`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LlamaConfig } from '../model/config.js';
import { parseConfig, toHfConfig } from '../model/config.js';
import { checkWeights, llamaWeightSpecs } from '../model/llamaWeights.js';
import type { F32Tensor, WeightMap } from '../weights/tensor.js';
import { readSafetensors, writeSafetensors } from '../weights/safetensors.js';

export interface OptimizerCheckpoint {
  readonly step: number;
  readonly weightsVersion: number;
  readonly m: ReadonlyMap<string, Float32Array>;
  readonly v: ReadonlyMap<string, Float32Array>;
}

/**
 * Writes `dir/model.safetensors` and `dir/config.json` (and the optimizer files when given).
 * Only the config's tensors are written (a tied model has no `lm_head.weight`).
 */
export async function saveCheckpoint(dir: string, config: LlamaConfig, weights: WeightMap, optimizer?: OptimizerCheckpoint): Promise<void> {
  checkWeights(config, weights, `checkpoint ${dir}`);
  await mkdir(dir, { recursive: true });
  const tensors = new Map<string, F32Tensor>();
  for (const s of llamaWeightSpecs(config)) tensors.set(s.name, weights.get(s.name)!);
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeFile(join(dir, 'config.json'), JSON.stringify(toHfConfig(config), null, 2) + '\n');
  if (optimizer) {
    const moments = new Map<string, F32Tensor>();
    for (const s of llamaWeightSpecs(config)) {
      const m = optimizer.m.get(s.name);
      const v = optimizer.v.get(s.name);
      if (m && v) {
        moments.set(`m.${s.name}`, { dims: s.dims, data: m });
        moments.set(`v.${s.name}`, { dims: s.dims, data: v });
      }
    }
    await writeSafetensors(join(dir, 'optimizer.safetensors'), moments, { format: 'specstream-adamw' });
    await writeFile(join(dir, 'trainer_state.json'), JSON.stringify({ step: optimizer.step, weightsVersion: optimizer.weightsVersion }) + '\n');
  }
}

/** Reads a checkpoint directory written by `saveCheckpoint` (or any HF Llama/Qwen2 float checkpoint in one file). */
export async function loadCheckpoint(dir: string): Promise<{ config: LlamaConfig; weights: Map<string, F32Tensor> }> {
  const cfgPath = join(dir, 'config.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (err) {
    throw new Error(`${cfgPath}: cannot read the model config: ${(err as Error).message}`);
  }
  const config = parseConfig(json, cfgPath);
  const weights = await readSafetensors(join(dir, 'model.safetensors'));
  checkWeights(config, weights, join(dir, 'model.safetensors'));
  return { config, weights };
}

/** Reads `optimizer.safetensors` + `trainer_state.json` written by `saveCheckpoint` with optimizer state. */
export async function loadOptimizerState(dir: string): Promise<OptimizerCheckpoint> {
  const statePath = join(dir, 'trainer_state.json');
  let state: { step?: unknown; weightsVersion?: unknown };
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as typeof state;
  } catch (err) {
    throw new Error(`${statePath}: cannot read the trainer state: ${(err as Error).message}`);
  }
  if (!Number.isInteger(state.step) || !Number.isInteger(state.weightsVersion)) {
    throw new Error(`${statePath}: expected integer "step" and "weightsVersion"; got ${JSON.stringify(state)}`);
  }
  const tensors = await readSafetensors(join(dir, 'optimizer.safetensors'));
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [k, t] of tensors) {
    if (k.startsWith('m.')) m.set(k.slice(2), t.data);
    else if (k.startsWith('v.')) v.set(k.slice(2), t.data);
  }
  return { step: state.step as number, weightsVersion: state.weightsVersion as number, m, v };
}
